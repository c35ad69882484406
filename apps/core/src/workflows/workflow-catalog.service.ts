import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FieldError, WorkflowCatalog } from '@pancha/contracts';
import { chooseStartVersion, type StartChoice } from '@pancha/workflow-engine';
import { SerialLoad } from '@pancha/service-kit';
import { compileJsonSchema, resolveVersion, type TriggerSpec, type WorkflowManifest } from '@pancha/workflow-manifest';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource } from 'typeorm';
import { CoreConfig } from '../config/env.validation';

export interface CatalogVersion {
  version: string;
  present: boolean;
  deprecated: boolean;
  retired: boolean;
  manifest: WorkflowManifest;
}

export interface CatalogWorkflow {
  name: string;
  enabled: boolean;
  /**
   * The operator's reason for the workflow's setting (a disable's "supplier outage"): the catalog's when it carries
   * one, else the one given through this Core while the setting it was given with holds.
   */
  reason?: string;
  default_version: string | null;
  versions: Map<string, CatalogVersion>;
}

/**
 * Core's mirror of the executor's registry: fetched at start and every WORKFLOW_CATALOG_REFRESH_MS (a 304 when
 * nothing changed), kept in Core's database so Core accepts and refuses run starts, and routes events, while the
 * executor is down. A change made through this Core (enable/disable) is applied here at once.
 */
@Injectable()
export class WorkflowCatalogService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WorkflowCatalogService.name);
  private workflows = new Map<string, CatalogWorkflow>();
  private etag?: string;
  private revision?: string;
  private timer?: NodeJS.Timeout;
  /** One fetch at a time: a poll shares the one in flight, a sync gets one that starts after it asked. */
  private readonly fetches = new SerialLoad(() => (this.fetching = this.fetch()));
  /** The latest fetch, which shutdown waits out: it may be writing the cache while the pool closes. */
  private fetching?: Promise<boolean>;
  private failures = 0;
  /**
   * Reasons for a disable given through this Core, for a catalog that carries none: kept while the workflow stays
   * disabled, dropped when it is enabled (here or as the catalog says).
   */
  private readonly givenReasons = new Map<string, string>();
  private readonly listeners: ((catalog: ReadonlyMap<string, CatalogWorkflow>) => void)[] = [];

  constructor(
    private readonly executor: WorkflowExecutorClient,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: CoreConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.loadCached();
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.config.WORKFLOW_CATALOG_REFRESH_MS);
    this.timer.unref();
  }

  /** Stops polling and waits out a fetch in flight, before the database closes under its cache write. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.fetching?.catch(() => undefined);
  }

  /** Called with the whole catalog after every change (the event router rebuilds its trigger index). */
  onChange(listener: (catalog: ReadonlyMap<string, CatalogWorkflow>) => void): void {
    this.listeners.push(listener);
    listener(this.workflows);
  }

  get all(): ReadonlyMap<string, CatalogWorkflow> {
    return this.workflows;
  }

  get known(): boolean {
    return this.revision !== undefined;
  }

  get(name: string): CatalogWorkflow | undefined {
    return this.workflows.get(name);
  }

  /**
   * chooseStartVersion over the mirror (the executor's rule, refusals and their messages included: a range or no
   * version matching only versions that cannot start, retired or no longer in the workflows directory, is its 409
   * `version_retired` naming them), with one answer made exact: a disabled workflow's 409 carries the operator's
   * reason when the catalog has it (as the executor's own refusal does).
   */
  choose(name: string, version?: string): StartChoice {
    const workflow = this.workflows.get(name);
    const choice = chooseStartVersion(
      workflow && { name, enabled: workflow.enabled, versions: [...workflow.versions.values()] },
      name,
      version,
    );
    if (choice.ok || !workflow) return choice;
    if (choice.reason === 'workflow_disabled' && workflow.reason) {
      return { ...choice, message: `workflow ${name} is disabled (${workflow.reason}); no new runs start` };
    }
    return choice;
  }

  /**
   * The registered version whose inputs a caller of `requested` wrote for: that exact version when the catalog has it
   * (retired or replaced too: the executor keeps every version it registered), else the newest registered version the
   * range matches. Undefined when none is known (the migration's input is then checked only through the new schema).
   */
  requestedVersion(name: string, requested: string): CatalogVersion | undefined {
    const versions = this.workflows.get(name)?.versions;
    if (!versions) return undefined;
    const exact = versions.get(requested);
    if (exact) return exact;
    let newest: string | undefined;
    try {
      newest = resolveVersion(requested, [...versions.keys()].map((v) => ({ version: v })));
    } catch {
      newest = undefined;
    }
    return newest === undefined ? undefined : versions.get(newest);
  }

  /**
   * `GET /workflows/:name/versions/:version`: the version's manifest as the executor answered it, with `present`, whether
   * the version is in the workflows directory as this mirror holds it, which is what a start here meets (one that is
   * not starts no new run, 409 version_retired, whatever its `retired` says), as the workflow's list of versions tells.
   * A version the mirror does not hold yet (registered since its last fetch) is fetched first; `present` is left out
   * only when the mirror still has no such version.
   */
  async versionView(name: string, manifest: Record<string, unknown>): Promise<Record<string, unknown>> {
    const version = String(manifest.version);
    if (!this.workflows.get(name)?.versions.has(version)) await this.sync();
    const present = this.workflows.get(name)?.versions.get(version)?.present;
    return present === undefined ? manifest : { ...manifest, present };
  }

  manifest(name: string, version: string): WorkflowManifest | undefined {
    return this.workflows.get(name)?.versions.get(version)?.manifest;
  }

  validateInputs(manifest: WorkflowManifest, inputs: unknown): FieldError[] {
    return manifest.inputs === undefined ? [] : compileJsonSchema(manifest.inputs, { rootName: 'inputs' })(inputs);
  }

  /** Every trigger of every enabled workflow's default version (what the event router matches against). */
  triggers(): { workflow: string; version: string; trigger: TriggerSpec; enabled: boolean }[] {
    const out: { workflow: string; version: string; trigger: TriggerSpec; enabled: boolean }[] = [];
    for (const wf of this.workflows.values()) {
      const version = wf.default_version ? wf.versions.get(wf.default_version) : undefined;
      for (const trigger of version?.manifest.triggers ?? []) out.push({ workflow: wf.name, version: version!.version, trigger, enabled: wf.enabled });
    }
    return out;
  }

  /** Applies an enable/disable this Core just made through the executor, without waiting for the next poll. */
  applyEnabled(name: string, enabled: boolean, reason?: string): void {
    const wf = this.workflows.get(name);
    if (!wf) return;
    if (enabled) this.givenReasons.delete(name);
    else if (reason) this.givenReasons.set(name, reason);
    else this.givenReasons.delete(name);
    wf.reason = reason || undefined;
    if (wf.enabled === enabled) return;
    wf.enabled = enabled;
    this.etag = undefined;
    this.notify();
  }

  /** Fetches the catalog now (concurrent callers share one fetch); true when it changed. */
  refresh(): Promise<boolean> {
    return this.fetches.joinOrStart();
  }

  /**
   * A fetch that starts after this call: an in-flight one may have left before a change the caller just made or saw
   * (a reload, an enable, a newer version in the executor's answer), so it waits that one out and fetches again
   * (one follow-up fetch shared by every caller meanwhile).
   */
  sync(): Promise<boolean> {
    return this.fetches.fresh();
  }

  /**
   * True when the executor's view of a workflow (as a caller just read it) is not what this mirror holds: enabled,
   * the default version, or a version's presence and lifecycle flags (a version deprecated or retired on a reload
   * keeps the default where it was).
   */
  differs(view: {
    name: string;
    enabled: boolean;
    default_version: string | null;
    versions?: readonly { version: string; present: boolean; deprecated: boolean; retired: boolean }[];
  }): boolean {
    const mine = this.workflows.get(view.name);
    if (!mine || mine.enabled !== view.enabled || mine.default_version !== view.default_version) return true;
    return (view.versions ?? []).some((v) => {
      const held = mine.versions.get(v.version);
      return !held || held.present !== v.present || held.deprecated !== v.deprecated || held.retired !== v.retired;
    });
  }

  private async fetch(): Promise<boolean> {
    let fetched: Awaited<ReturnType<WorkflowExecutorClient['catalog']>>;
    try {
      fetched = await this.executor.catalog(this.etag);
    } catch (error) {
      this.failures++;
      if (this.failures === 1 || this.failures % 60 === 0) {
        this.logger.warn({ msg: 'workflow catalog not refreshed; serving the last one', failures: this.failures, error: (error as Error).message });
      }
      return false;
    }
    if (this.failures > 0) this.logger.log({ msg: 'workflow catalog reachable again', failures: this.failures });
    this.failures = 0;
    if (!fetched) return false;
    this.apply(fetched.catalog, fetched.etag);
    try {
      await this.dataSource.query(
        `INSERT INTO workflow_catalog_cache (id, etag, catalog, fetched_at) VALUES (1, $1, $2::jsonb, now())
         ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, catalog = excluded.catalog, fetched_at = excluded.fetched_at`,
        [fetched.etag ?? null, JSON.stringify(fetched.catalog)],
      );
    } catch (error) {
      this.logger.warn({ msg: 'workflow catalog not cached in the database', error: (error as Error).message });
    }
    return true;
  }

  private async loadCached(): Promise<void> {
    try {
      const [row]: { etag: string | null; catalog: WorkflowCatalog }[] = await this.dataSource.query(
        `SELECT etag, catalog FROM workflow_catalog_cache WHERE id = 1`,
      );
      // The cached copy serves until the executor answers; its etag is not reused (the executor may have restarted).
      if (row) this.apply(row.catalog, undefined);
    } catch (error) {
      this.logger.warn({ msg: 'no cached workflow catalog', error: (error as Error).message });
    }
  }

  private apply(catalog: WorkflowCatalog, etag: string | undefined): void {
    const next = new Map<string, CatalogWorkflow>();
    for (const wf of catalog.workflows) {
      if (wf.enabled) this.givenReasons.delete(wf.name);
      const reason = wf.reason !== undefined ? (wf.reason ?? undefined) : wf.enabled ? undefined : this.givenReasons.get(wf.name);
      next.set(wf.name, {
        name: wf.name,
        enabled: wf.enabled,
        ...(reason ? { reason } : {}),
        default_version: wf.default_version,
        versions: new Map(
          wf.versions.map((v) => [
            v.version,
            { version: v.version, present: v.present, deprecated: v.deprecated, retired: v.retired, manifest: v.manifest as unknown as WorkflowManifest },
          ]),
        ),
      });
    }
    this.workflows = next;
    this.etag = etag;
    this.revision = catalog.revision;
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener(this.workflows);
  }
}
