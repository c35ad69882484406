import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type FieldError, MetricName } from '@pancha/contracts';
import { type ChildRunCommand, checkedChildInputs, type RunRecord } from '@pancha/workflow-engine';
import {
  applyValidationMode,
  compileJsonSchema,
  compareVersions,
  type Finding,
  type LifecycleChange,
  type ManifestSource,
  parseManifest,
  resolveOrMigrate,
  resolveVersion,
  sameDefinition,
  type Step,
  VALIDATION_LAYERS,
  validateWorkflowSet,
  type WorkflowLoadReport,
  type WorkflowManifest,
  type WorkflowRef,
} from '@pancha/workflow-manifest';
import { metricsRegistry, SerialLoad } from '@pancha/service-kit';
import { Counter, Histogram } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { ActionInvoker } from '../engine/action-invoker.service';
import type { NewRun } from '../engine/run-store';
import { type DefinitionEventType, RunEvents } from '../engine/run-events';
import { watchDirectory } from '../hot-reload';

// What the original contract engine's operators watched as contract_validation_errors_total and
// validation_layer_duration_seconds (WORKFLOWS.md), per registry load (start, reload, a file changed).
const validationFindings = new Counter({
  name: MetricName.WorkflowValidationFindings,
  help: 'Manifest findings on each registry load, by validation layer and severity (after the validation mode)',
  labelNames: ['layer', 'severity'],
  registers: [metricsRegistry],
});
const validationLayerDuration = new Histogram({
  name: MetricName.WorkflowValidationLayerDuration,
  help: 'Time one validation layer took on one manifest file, on each registry load',
  labelNames: ['layer'],
  buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
  registers: [metricsRegistry],
});
for (const layer of VALIDATION_LAYERS) {
  for (const severity of ['error', 'warning']) validationFindings.inc({ layer, severity }, 0);
}

export interface RegisteredVersion {
  manifest: WorkflowManifest;
  registered_at: Date;
  /** In the workflows directory as of the last load: only present versions start new runs by default. */
  present: boolean;
}

export interface WorkflowSetting {
  enabled: boolean;
  updated_by: string;
  updated_at: Date;
  reason?: string;
}

/** What one (re)load of the workflows directory did (the shape the CLI reads, named once in workflow-manifest). */
export type LoadReport = WorkflowLoadReport;

/** The Bucket entry for each flag a change turned on or off (as enable/disable are recorded). */
function lifecycleEvents(change: LifecycleChange): DefinitionEventType[] {
  const types: DefinitionEventType[] = [];
  if (change.deprecated !== change.was.deprecated) types.push(change.deprecated ? 'workflow.deprecated' : 'workflow.undeprecated');
  if (change.retired !== change.was.retired) types.push(change.retired ? 'workflow.retired' : 'workflow.unretired');
  return types;
}

interface DefinitionRow {
  name: string;
  version: string;
  content_hash: string;
  source: string;
  file: string | null;
  registered_at: Date;
}

/**
 * The executor's registry of workflow definitions: the manifests of WORKFLOWS_DIR, validated in layers and
 * registered once per name@version (immutable: the same version with other content is refused, the registered
 * one keeps serving; only its lifecycle flags, `deprecated` and `retired`, change on a reload, stored and recorded
 * in Bucket). Every registered version stays in the database, so runs pinned to it finish even after its
 * file changed or went away. Enable/disable is a setting stored beside it (survives restarts).
 */
@Injectable()
export class WorkflowRegistry implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkflowRegistry.name);
  private readonly workflows = new Map<string, Map<string, RegisteredVersion>>();
  private markLoaded!: () => void;
  /**
   * Settles once the start's load is over (the stored definitions, then WORKFLOWS_DIR). Until then a run's pinned
   * definition may be missing only because it is not read yet: the worker claims no run before (it would fail the
   * run as not registered).
   */
  readonly loaded = new Promise<void>((resolve) => (this.markLoaded = resolve));
  private readonly settings = new Map<string, WorkflowSetting>();
  /** When the settings were last read from the database (Date.now), and the read in flight, if any. */
  private settingsReadAt = 0;
  private settingsRead?: Promise<void>;
  /** This replica's own setEnabled calls, counted: a settings read during which one landed may predate it. */
  private localWrites = 0;
  private lastReport?: LoadReport;
  private revisionCounter = 0;
  private revisionDigest?: { counter: number; digest: string };
  /** A load requested while one runs loads again after it: files may have changed after the running load read them. */
  private readonly loads = new SerialLoad((trigger: LoadReport['trigger']) => this.load(trigger));
  private watcher?: { close(): void };

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: WorkflowExecutorConfig,
    private readonly actions: ActionInvoker,
    private readonly events: RunEvents,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.loadStored();
      const report = await this.reload('start');
      if (report.refused.length > 0) {
        this.logger.warn({ msg: 'some workflow manifests were refused', refused: report.refused.map((r) => r.file) });
      }
    } finally {
      this.markLoaded();
    }
    if (this.config.WORKFLOWS_WATCH) this.watch();
  }

  onApplicationShutdown(): void {
    this.watcher?.close();
  }

  /**
   * Hot reload: any change under WORKFLOWS_DIR schedules one reload after WORKFLOWS_WATCH_DEBOUNCE_MS of quiet
   * (editors and `git checkout` write in bursts). The reload is the same as `POST …/reload`: new versions register
   * beside the old, runs keep their pinned version, refused files keep their previous version serving.
   */
  private watch(): void {
    this.watcher = watchDirectory({
      dir: this.config.workflowsDir,
      what: 'workflows',
      accept: (file) => /\.ya?ml$/.test(file),
      debounceMs: this.config.WORKFLOWS_WATCH_DEBOUNCE_MS,
      onQuiet: async () => {
        const report = await this.reload('watch');
        if (report.registered.length > 0 || report.refused.length > 0) {
          this.logger.log({ msg: 'workflows reloaded after a file change', registered: report.registered, refused: report.refused.map((r) => r.file), kept: report.kept });
        }
      },
      logger: this.logger,
    });
  }

  /**
   * A revision string that changes whenever what Core mirrors changes (definitions and their lifecycle flags,
   * presence, settings): a digest of that state, so it never repeats for other state, whether this process
   * restarted since Core's last fetch or Core now reads another replica (a counter would: Core's ETag would then
   * match and it would keep a stale mirror).
   */
  get revision(): string {
    if (this.revisionDigest?.counter !== this.revisionCounter) {
      const hash = createHash('sha256');
      for (const name of this.names()) {
        hash.update(`${name}\0${this.enabled(name)}\0${this.settings.get(name)?.updated_at.getTime() ?? ''}\0`);
        for (const [version, v] of this.workflows.get(name)!) {
          hash.update(`${version}\0${v.manifest.content_hash}\0${v.present}\0${v.manifest.deprecated}\0${v.manifest.retired}\0`);
        }
        hash.update('\n');
      }
      this.revisionDigest = { counter: this.revisionCounter, digest: hash.digest('hex').slice(0, 32) };
    }
    return this.revisionDigest.digest;
  }

  get report(): LoadReport | undefined {
    return this.lastReport;
  }

  /**
   * Reads WORKFLOWS_DIR again. A call while a load runs waits for it and then loads once more (shared by every
   * caller that arrives meanwhile), so a change written during a load is never missed.
   */
  reload(trigger: LoadReport['trigger'] = 'request'): Promise<LoadReport> {
    return this.loads.fresh(trigger);
  }

  names(): string[] {
    return [...this.workflows.keys()].sort();
  }

  versions(name: string): Map<string, RegisteredVersion> | undefined {
    return this.workflows.get(name);
  }

  /** The exact registered definition a run is pinned to. */
  definition(name: string, version: string): WorkflowManifest | undefined {
    return this.workflows.get(name)?.get(version)?.manifest;
  }

  enabled(name: string): boolean {
    const setting = this.settings.get(name);
    if (setting) return setting.enabled;
    return this.defaultVersion(name)?.manifest.enabled ?? true;
  }

  setting(name: string): WorkflowSetting | undefined {
    return this.settings.get(name);
  }

  /** The version new runs get: the highest one present in the directory and not retired. */
  defaultVersion(name: string): RegisteredVersion | undefined {
    const versions = this.workflows.get(name);
    if (!versions) return undefined;
    const present = [...versions.values()].filter((v) => v.present).map((v) => ({ version: v.manifest.version, retired: v.manifest.retired }));
    const chosen = resolveVersion('*', present);
    return chosen ? versions.get(chosen) : undefined;
  }

  /**
   * name@range → the registered version a sub-workflow reference means now: the highest non-retired match, else a
   * later major that migrates the range's inputs (WORKFLOWS.md; childRun migrates them).
   */
  resolve(name: string, range: string): RegisteredVersion | undefined {
    const versions = this.workflows.get(name);
    if (!versions) return undefined;
    const candidates = (all: RegisteredVersion[]) => all.map((v) => ({ version: v.manifest.version, retired: v.manifest.retired, manifest: v.manifest }));
    // The versions in the directory first, as a new run's own start (a file rolled back from 1.1.0 to 1.0.0 pins
    // 1.0.0); only when none of them matches, any registered one, so a reference that resolved before still does.
    const registered = [...versions.values()];
    const chosen = (resolveOrMigrate(range, candidates(registered.filter((v) => v.present))) ?? resolveOrMigrate(range, candidates(registered)))?.version;
    return chosen ? versions.get(chosen) : undefined;
  }

  /** Inputs checked against the definition's `inputs` schema; each problem names its field. */
  validateInputs(manifest: WorkflowManifest, inputs: unknown): FieldError[] {
    if (manifest.inputs === undefined) return [];
    return compileJsonSchema(manifest.inputs, { rootName: 'inputs' })(inputs);
  }

  validateOutput(manifest: WorkflowManifest, output: unknown): string[] {
    if (manifest.outputs === undefined) return [];
    return compileJsonSchema(manifest.outputs, { rootName: 'output' })(output).map((e) => `${e.field}: ${e.messages.join(', ')}`);
  }

  /** Every sub-workflow and fallback reference of a manifest resolved now: a run is pinned to these at its start. */
  pinsFor(manifest: WorkflowManifest): Record<string, string> {
    const pins: Record<string, string> = {};
    for (const ref of workflowRefs(manifest)) {
      const resolved = this.resolve(ref.name, ref.range);
      if (resolved) pins[`${ref.name}@${ref.range}`] = resolved.manifest.version;
    }
    return pins;
  }

  /** The row of a run started by another run (a sub-workflow or a fallback), pinned and checked like any start. */
  childRun(child: ChildRunCommand, parent: RunRecord, rootRunId: string, traceparent: string | undefined, now: Date): NewRun {
    const manifest = this.definition(child.workflow, child.version);
    const base: NewRun = {
      run_id: child.run_id,
      workflow: child.workflow,
      version: child.version,
      inputs: child.inputs,
      user_id: parent.user_id ?? null,
      product: parent.product ?? null,
      actor: `run:${parent.id}`,
      trace_id: parent.trace_id,
      traceparent: traceparent ?? null,
      pins: manifest ? this.pinsFor(manifest) : {},
      parent_run_id: parent.id,
      parent_step_path: child.parent_step_path ?? null,
      root_run_id: rootRunId,
      relation: child.relation,
      deadline_at: manifest?.timeout_ms !== undefined ? new Date(now.getTime() + manifest.timeout_ms) : null,
    };
    if (!manifest) {
      return { ...base, status: 'failed', error: { code: 'workflow_not_found', message: `${child.workflow}@${child.version} is not registered`, retryable: false } };
    }
    const taken = checkedChildInputs(child, manifest);
    if ('error' in taken) return { ...base, inputs: taken.inputs ?? base.inputs, status: 'failed', error: taken.error };
    base.inputs = taken.inputs;
    if (taken.warning) base.warnings = [taken.warning];
    return base;
  }

  /** Enable or disable new runs of a workflow (in-flight runs finish); stored, and recorded in Bucket. */
  async setEnabled(name: string, enabled: boolean, actor: string, reason?: string): Promise<WorkflowSetting> {
    const rows: { updated_at: Date }[] = await this.dataSource.transaction(async (manager) => {
      const saved: { updated_at: Date }[] = await manager.query(
        `INSERT INTO workflow_settings (name, enabled, updated_by, reason, updated_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_by = excluded.updated_by,
           reason = excluded.reason, updated_at = excluded.updated_at
         RETURNING updated_at`,
        [name, enabled, actor, reason ?? null],
      );
      await this.events.recordDefinitionEvent(manager, enabled ? 'workflow.enabled' : 'workflow.disabled', {
        workflow: name,
        actor,
        reason,
        at: saved[0].updated_at,
      });
      return saved;
    });
    const setting: WorkflowSetting = { enabled, updated_by: actor, updated_at: rows[0].updated_at, reason };
    this.settings.set(name, setting);
    this.localWrites++;
    this.revisionCounter++;
    return setting;
  }

  /**
   * The settings as stored at most `maxAgeMs` ago: a start checks them, and another replica may have disabled the
   * workflow. Concurrent callers share one read.
   */
  async settingsWithin(maxAgeMs: number): Promise<void> {
    if (Date.now() - this.settingsReadAt < maxAgeMs) return;
    this.settingsRead ??= this.refreshSettings().finally(() => {
      this.settingsRead = undefined;
    });
    await this.settingsRead;
  }

  /**
   * Settings written by another replica become visible here (Core mirrors the catalog through any replica). A read
   * during which this replica's own setEnabled landed may have begun before it: it is dropped whole, so it cannot
   * undo that write (the next start reads again). Rows are otherwise taken as stored: the table is the truth, and
   * `updated_at` (a transaction's start time) does not order two replicas' concurrent writes.
   */
  async refreshSettings(): Promise<void> {
    const readAt = Date.now();
    const writesBefore = this.localWrites;
    const rows: { name: string; enabled: boolean; updated_by: string; updated_at: Date; reason: string | null }[] =
      await this.dataSource.query(`SELECT name, enabled, updated_by, updated_at, reason FROM workflow_settings`);
    if (this.localWrites !== writesBefore) return;
    let changed = false;
    for (const row of rows) {
      const current = this.settings.get(row.name);
      if (current?.enabled === row.enabled && current.updated_at.getTime() === row.updated_at.getTime()) continue;
      this.settings.set(row.name, { enabled: row.enabled, updated_by: row.updated_by, updated_at: row.updated_at, reason: row.reason ?? undefined });
      changed = true;
    }
    if (changed) this.revisionCounter++;
    this.settingsReadAt = Math.max(this.settingsReadAt, readAt);
  }

  private async loadStored(): Promise<void> {
    const rows: DefinitionRow[] = await this.dataSource.query(
      `SELECT name, version, content_hash, source, file, registered_at FROM workflow_definitions`,
    );
    for (const row of rows) {
      const { manifest, findings } = parseManifest(row.source, { file: row.file ?? undefined });
      if (!manifest) {
        // Registered once, so it parsed then; a parser change must not strand the runs pinned to it.
        this.logger.error({ msg: 'a registered workflow no longer parses', workflow: row.name, version: row.version, findings: findings.length });
        continue;
      }
      this.put({ manifest: { ...manifest, file: row.file ?? undefined }, registered_at: row.registered_at, present: false });
    }
    await this.refreshSettings();
  }

  private async load(trigger: LoadReport['trigger']): Promise<LoadReport> {
    const dir = this.config.workflowsDir;
    const report: LoadReport = { loaded_at: new Date().toISOString(), registered: [], unchanged: 0, refused: [], kept: [], lifecycle: [], findings: [], trigger };
    const files = listManifestFiles(dir);
    const parsed: { file: string; text: string; manifest?: WorkflowManifest; source?: ManifestSource; findings: Finding[] }[] = files.map((file) => {
      let text: string;
      try {
        text = readFileSync(path.join(dir, file), 'utf8');
      } catch (error) {
        return { file, text: '', findings: [readFinding(file, error)] };
      }
      const started = performance.now();
      const { manifest, source, findings } = parseManifest(text, { file, expectedName: path.basename(file).replace(/\.ya?ml$/, '') });
      validationLayerDuration.observe({ layer: 'syntax' }, (performance.now() - started) / 1000);
      return { file, text, manifest, source, findings };
    });

    const candidates = parsed.filter((p) => p.manifest !== undefined);
    const setFindings = validateWorkflowSet(
      candidates.map((c) => ({ manifest: c.manifest!, source: c.source })),
      {
        actions: this.actions.catalog(),
        policyHttpHosts: this.config.workflowHttpHosts,
        layerTimed: (layer, seconds) => validationLayerDuration.observe({ layer }, seconds),
        versionsOf: (name) => {
          const stored = [...(this.workflows.get(name)?.values() ?? [])].map((v) => ({ version: v.manifest.version, retired: v.manifest.retired, manifest: v.manifest }));
          const fresh = candidates.filter((c) => c.manifest!.name === name && !stored.some((s) => s.version === c.manifest!.version))
            .map((c) => ({ version: c.manifest!.version, retired: c.manifest!.retired, manifest: c.manifest! }));
          return [...stored, ...fresh];
        },
      },
    );

    const presentNow = new Set<string>();
    for (const entry of parsed) {
      const key = entry.manifest ? `${entry.manifest.name}@${entry.manifest.version}` : undefined;
      const findings = [...entry.findings, ...(key ? (setFindings.get(key) ?? []) : [])];
      const verdict = applyValidationMode(findings, this.config.WORKFLOW_VALIDATION_MODE);
      report.findings.push(...verdict.findings);
      for (const f of verdict.findings) validationFindings.inc({ layer: f.layer, severity: f.severity });
      if (this.config.WORKFLOW_VALIDATION_MODE === 'audit') await this.auditFindings(entry, verdict.findings);
      if (!entry.manifest || !verdict.accepted) {
        report.refused.push({ file: entry.file, findings: verdict.findings });
        const kept = this.servingFrom(entry.file);
        if (kept) {
          presentNow.add(`${kept.manifest.name}@${kept.manifest.version}`);
          report.kept.push({ file: entry.file, workflow: kept.manifest.name, version: kept.manifest.version });
        }
        continue;
      }
      const manifest = { ...entry.manifest, file: entry.file };
      const outcome = await this.register(manifest, entry.text);
      if (outcome === 'conflict') {
        const finding: Finding = {
          layer: 'compatibility',
          severity: 'error',
          code: 'version_immutable',
          message: `${key} is already registered with other content; change the version to publish a change`,
          file: entry.file,
          path: '/version',
        };
        report.findings.push(finding);
        validationFindings.inc({ layer: finding.layer, severity: finding.severity });
        report.refused.push({ file: entry.file, findings: [...verdict.findings, finding] });
        // The registered content keeps serving, and stays present: the file still names that version.
        presentNow.add(key!);
        continue;
      }
      presentNow.add(key!);
      if (outcome === 'registered') report.registered.push({ workflow: manifest.name, version: manifest.version, file: entry.file });
      else if (typeof outcome === 'object') report.lifecycle.push(outcome);
      else report.unchanged++;
    }
    for (const [name, versions] of this.workflows) {
      for (const [version, registered] of versions) registered.present = presentNow.has(`${name}@${version}`);
    }
    this.revisionCounter++;
    this.lastReport = report;
    for (const change of report.lifecycle) {
      this.logger.log({ msg: 'workflow version lifecycle changed', workflow: change.workflow, version: change.version, file: change.file, deprecated: change.deprecated, retired: change.retired, was: change.was });
    }
    for (const finding of report.findings.filter((f) => f.severity === 'error')) {
      this.logger.warn({ msg: 'workflow manifest finding', file: finding.file, line: finding.line, layer: finding.layer, code: finding.code, detail: finding.message, path: finding.path });
    }
    return report;
  }

  /** Validation mode audit refuses nothing and records every finding in Bucket, a file at a time (its own commit). */
  private async auditFindings(entry: { file: string; text: string; manifest?: WorkflowManifest }, findings: readonly Finding[]): Promise<void> {
    if (findings.length === 0) return;
    await this.dataSource.transaction((manager) =>
      this.events.recordFindings(manager, { file: entry.file, text: entry.text, workflow: entry.manifest?.name, version: entry.manifest?.version, findings }),
    );
  }

  /**
   * The version a file served before this load: the present one registered from it, else (first load after a
   * restart) the highest registered from it. It keeps serving while the file is invalid.
   */
  private servingFrom(file: string): RegisteredVersion | undefined {
    const fromFile = [...this.workflows.values()].flatMap((versions) => [...versions.values()]).filter((v) => v.manifest.file === file);
    const present = fromFile.filter((v) => v.present);
    const pool = present.length > 0 ? present : fromFile;
    return pool.sort((a, b) => compareVersions(b.manifest.version, a.manifest.version))[0];
  }

  /**
   * Inserts name@version once; the same content again is a no-op, other content a conflict. The same definition
   * with other lifecycle flags (`deprecated`, `retired`) is the registered version's state changing: the stored row
   * takes the new source (so a restart keeps it), and each flag turned on or off is recorded in Bucket. Rows stored
   * before the flags could change compare the same way: both sides are reparsed from their source, flags left out.
   */
  private async register(manifest: WorkflowManifest, source: string): Promise<'registered' | 'unchanged' | 'conflict' | LifecycleChange> {
    const existing = this.workflows.get(manifest.name)?.get(manifest.version);
    if (existing) {
      if (existing.manifest.content_hash === manifest.content_hash) return 'unchanged';
      if (!sameDefinition(existing.manifest, manifest)) return 'conflict';
    }
    const result = await this.dataSource.transaction(async (manager: EntityManager) => {
      const inserted: { registered_at: Date }[] = existing
        ? []
        : await manager.query(
            `INSERT INTO workflow_definitions (name, version, content_hash, manifest, source, file)
             VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT (name, version) DO NOTHING RETURNING registered_at`,
            [manifest.name, manifest.version, manifest.content_hash, JSON.stringify(manifest), source, manifest.file ?? null],
          );
      if (inserted.length === 0) {
        // Registered before (here, or by another replica first): the same content is fine, the same definition with
        // other flags updates them, other content is a conflict. The row is locked: replicas reloading the same
        // change at once record it once.
        const [row]: { content_hash: string; source: string; file: string | null; registered_at: Date }[] = await manager.query(
          `SELECT content_hash, source, file, registered_at FROM workflow_definitions WHERE name = $1 AND version = $2 FOR UPDATE`,
          [manifest.name, manifest.version],
        );
        if (row.content_hash === manifest.content_hash) return { status: 'unchanged' as const, at: row.registered_at };
        const stored = parseManifest(row.source, { file: row.file ?? undefined }).manifest;
        if (!stored || !sameDefinition(stored, manifest)) return { status: 'conflict' as const };
        await manager.query(
          `UPDATE workflow_definitions SET content_hash = $3, manifest = $4::jsonb, source = $5, file = $6 WHERE name = $1 AND version = $2`,
          [manifest.name, manifest.version, manifest.content_hash, JSON.stringify(manifest), source, manifest.file ?? null],
        );
        const [{ at }]: { at: Date }[] = await manager.query(`SELECT now() AS at`);
        const change: LifecycleChange = {
          workflow: manifest.name,
          version: manifest.version,
          file: manifest.file,
          deprecated: manifest.deprecated,
          retired: manifest.retired,
          was: { deprecated: stored.deprecated, retired: stored.retired },
        };
        for (const type of lifecycleEvents(change)) {
          await this.events.recordDefinitionEvent(manager, type, { workflow: manifest.name, version: manifest.version, content_hash: manifest.content_hash, file: manifest.file, at });
        }
        return { status: 'lifecycle' as const, at: row.registered_at, change };
      }
      await this.events.recordDefinitionEvent(manager, 'workflow.registered', {
        workflow: manifest.name,
        version: manifest.version,
        content_hash: manifest.content_hash,
        file: manifest.file,
        at: inserted[0].registered_at,
      });
      return { status: 'registered' as const, at: inserted[0].registered_at };
    });
    if (result.status === 'conflict') return 'conflict';
    this.put({ manifest, registered_at: result.at, present: true });
    if (result.status === 'lifecycle') return result.change;
    // Another replica changed the flags first: this one's state changed all the same (recorded once, by that one).
    if (existing && result.status === 'unchanged') {
      return {
        workflow: manifest.name,
        version: manifest.version,
        file: manifest.file,
        deprecated: manifest.deprecated,
        retired: manifest.retired,
        was: { deprecated: existing.manifest.deprecated, retired: existing.manifest.retired },
      };
    }
    return result.status;
  }

  private put(version: RegisteredVersion): void {
    const name = version.manifest.name;
    let versions = this.workflows.get(name);
    if (!versions) {
      versions = new Map();
      this.workflows.set(name, versions);
    }
    versions.set(version.manifest.version, version);
  }
}

/** Every workflow a manifest may start: sub-workflows, foreach bodies, step and run fallbacks. */
export function workflowRefs(manifest: WorkflowManifest): WorkflowRef[] {
  const refs: WorkflowRef[] = [];
  const visit = (steps: readonly Step[] | undefined): void => {
    for (const step of steps ?? []) {
      if (step.on_failure && 'workflow' in step.on_failure) refs.push(step.on_failure.workflow);
      switch (step.kind) {
        case 'workflow':
          refs.push(step.workflow);
          break;
        case 'group':
          visit(step.steps);
          break;
        case 'parallel':
          visit(step.branches);
          break;
        case 'switch':
          step.cases.forEach((c) => visit(c.steps));
          visit(step.default);
          break;
        case 'foreach':
          if (step.body.kind === 'workflow') refs.push(step.body.workflow);
          if (step.body.kind === 'group') visit(step.body.steps);
          break;
        default:
          break;
      }
    }
  };
  visit(manifest.steps);
  visit(manifest.on_failure?.steps);
  if (manifest.on_failure?.workflow) refs.push(manifest.on_failure.workflow);
  return refs;
}

function listManifestFiles(dir: string): string[] {
  try {
    if (!statSync(dir).isDirectory()) return [];
    return readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
  } catch {
    return [];
  }
}

function readFinding(file: string, error: unknown): Finding {
  return { layer: 'syntax', severity: 'error', code: 'unreadable_file', message: `cannot read: ${(error as Error).message}`, file, path: '' };
}

export function contentHashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
