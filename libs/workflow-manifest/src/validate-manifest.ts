/**
 * The validation layers after syntax: semantic, security, limits and compatibility (the contract engine's layers).
 * Every finding names its layer, severity, code, file, line and JSON pointer into the manifest as written.
 */
import semver from 'semver';
import {
  canBeBool,
  compileExpression,
  compileTemplate,
  escapePointerToken,
  type ExpressionReferences,
  type ExpressionSyntaxError,
  isExpressionString,
  templateErrors,
  templateReferences,
} from './expressions';
import { compileJsonSchema, inputsCompatibility, jsonSchemaProblem } from './json-schema';
import { resolveOrMigrate } from './migrations';
import type {
  Finding,
  FindingSeverity,
  JsonSchema,
  RetryPolicy,
  Step,
  ValidationLayer,
  ValidationMode,
  WorkflowManifest,
  WorkflowRef,
} from './manifest.types';
import { type ManifestSource, sameDefinition } from './parse-manifest';
import { compareVersions, majorOf } from './versions';
import { formatWorkflowRef } from './workflow-ref';

export interface ManifestLimits {
  /** Steps in the whole manifest (nested, foreach bodies and on_failure steps included). */
  max_steps: number;
  max_parallel_branches: number;
  max_foreach_concurrency: number;
  /** Items one foreach may fan out to: the engine enforces it when it evaluates the list. */
  max_foreach_items: number;
  /** Steps inside steps: a top-level step is at depth 1. */
  max_depth: number;
  max_attempts: number;
  max_retry_interval_ms: number;
  max_run_timeout_ms: number;
  max_sleep_ms: number;
  max_approval_timeout_ms: number;
  max_triggers: number;
}

const DAY_MS = 86_400_000;

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = {
  max_steps: 200,
  max_parallel_branches: 32,
  max_foreach_concurrency: 64,
  max_foreach_items: 10_000,
  max_depth: 8,
  max_attempts: 20,
  max_retry_interval_ms: 3_600_000,
  max_run_timeout_ms: 30 * DAY_MS,
  max_sleep_ms: 30 * DAY_MS,
  max_approval_timeout_ms: 30 * DAY_MS,
  max_triggers: 32,
};

export interface RegisteredVersion {
  version: string;
  retired?: boolean;
  /** The registered manifest, when known: needed for the compatibility layer and for cycles through the registry. */
  manifest?: WorkflowManifest;
  /**
   * One of the manifests validated together (validateWorkflowSet), not a registered one: two files naming one
   * name@version must be the same document, lifecycle flags included (they would otherwise flip each other's state).
   */
  loadedTogether?: boolean;
}

export interface ValidationContext {
  /** Actions the executor can run (built-ins task, email, whatsapp, ai, http + plugins), with their input schema if known. */
  actions: ReadonlyMap<string, { inputSchema?: JsonSchema }>;
  /** Deployment-wide allow-list of http hosts (the policy); a manifest's http_hosts must be within it. Undefined = no extra limit. */
  policyHttpHosts?: readonly string[];
  /** Looks up registered versions of a workflow (for sub-workflow refs and for the compatibility layer). */
  versionsOf?(name: string): RegisteredVersion[];
  limits?: Partial<ManifestLimits>;
  /** Told how long each layer took on each manifest (the executor's validation-layer duration metric). */
  layerTimed?(layer: ValidationLayer, seconds: number): void;
}

/** The built-in actions of the executor (SPEC §2 plus http); plugins add more through ValidationContext.actions. */
export const BUILTIN_ACTIONS = ['task', 'email', 'whatsapp', 'ai', 'http'] as const;

export const SIGNAL_NAME_PATTERN = /^[a-z0-9_.-]+$/;

// ---------------------------------------------------------------------------------------------------------------
// Step structure

/** Where a step sits: what a reader of the engine or a validator needs to know about its surroundings. */
export interface StepInfo {
  step: Step;
  /** Depth 1 for a top-level step (or a run on_failure step). */
  depth: number;
  /** Position in a depth-first walk in manifest order. */
  order: number;
  /** Enclosing steps, outermost first. */
  ancestors: Step[];
  /** Ids of the block the step is in (its siblings, itself included) and its index there. */
  block: string[];
  index: number;
  /** The nearest foreach whose body holds this step (item/index are in scope). */
  foreachBody?: string;
  /** Ids of the steps that have finished (or been skipped) whenever this step starts. */
  visible: ReadonlySet<string>;
  /** In the run-level on_failure steps. */
  inRunFailure: boolean;
}

export interface StepIndex {
  steps: StepInfo[];
  byId: Map<string, StepInfo>;
  /** Ids a run's output and on_failure can read: every main step not inside a foreach body. */
  mainIds: ReadonlySet<string>;
  duplicates: StepInfo[];
}

/** Every step of a manifest with its context (nested, foreach bodies and on_failure steps included). */
export function indexSteps(manifest: WorkflowManifest): StepIndex {
  const steps: StepInfo[] = [];
  const byId = new Map<string, StepInfo>();
  const duplicates: StepInfo[] = [];
  interface Ctx {
    depth: number;
    ancestors: Step[];
    foreachBody?: string;
    inRunFailure: boolean;
  }
  const walkBlock = (block: Step[], visibleBefore: ReadonlySet<string>, ctx: Ctx): Set<string> => {
    const running = new Set(visibleBefore);
    const exported = new Set<string>();
    const ids = block.map((s) => s.id);
    block.forEach((step, index) => {
      const info: StepInfo = {
        step,
        depth: ctx.depth,
        order: steps.length,
        ancestors: ctx.ancestors,
        block: ids,
        index,
        foreachBody: ctx.foreachBody,
        visible: new Set(running),
        inRunFailure: ctx.inRunFailure,
      };
      steps.push(info);
      if (byId.has(step.id)) duplicates.push(info);
      else byId.set(step.id, info);
      const inner = new Set<string>();
      const child: Ctx = { ...ctx, depth: ctx.depth + 1, ancestors: [...ctx.ancestors, step] };
      const take = (ids: Set<string>) => ids.forEach((id) => inner.add(id));
      switch (step.kind) {
        case 'parallel':
          for (const branch of step.branches) take(walkBlock([branch], running, child));
          break;
        case 'switch':
          for (const c of step.cases) take(walkBlock(c.steps, running, child));
          if (step.default) take(walkBlock(step.default, running, child));
          break;
        case 'group':
          take(walkBlock(step.steps, running, child));
          break;
        case 'foreach':
          // Body steps run once per item: nothing outside the body can name one of them.
          if (step.body.kind === 'group') walkBlock(step.body.steps, running, { ...child, foreachBody: step.id });
          break;
        default:
          break;
      }
      for (const id of [step.id, ...inner]) {
        running.add(id);
        exported.add(id);
      }
    });
    return exported;
  };
  const mainIds = walkBlock(manifest.steps, new Set(), { depth: 1, ancestors: [], inRunFailure: false });
  if (manifest.on_failure?.steps) walkBlock(manifest.on_failure.steps, mainIds, { depth: 1, ancestors: [], inRunFailure: true });
  return { steps, byId, mainIds, duplicates };
}

/** Every sub-workflow reference of a manifest, with the JSON pointer of where it is written. */
export function workflowRefsOf(manifest: WorkflowManifest): { ref: WorkflowRef; path: string }[] {
  const refs: { ref: WorkflowRef; path: string }[] = [];
  for (const { step } of indexSteps(manifest).steps) {
    const p = step.source.pointer;
    if (step.kind === 'workflow') refs.push({ ref: step.workflow, path: `${p}/workflow` });
    if (step.kind === 'foreach' && step.body.kind === 'workflow') refs.push({ ref: step.body.workflow, path: `${p}/workflow` });
    if (step.on_failure && 'workflow' in step.on_failure) refs.push({ ref: step.on_failure.workflow, path: `${p}/on_failure/workflow` });
  }
  if (manifest.on_failure?.workflow) refs.push({ ref: manifest.on_failure.workflow, path: '/on_failure/workflow' });
  return refs;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

class Findings {
  readonly list: Finding[] = [];
  private readonly fallbackLines = new Map<string, number>();

  constructor(
    private readonly manifest: WorkflowManifest,
    private readonly source: ManifestSource | undefined,
  ) {
    const remember = (loc: { pointer: string; line?: number }) => {
      if (loc.line !== undefined) this.fallbackLines.set(loc.pointer, loc.line);
    };
    for (const info of indexSteps(manifest).steps) {
      remember(info.step.source);
      if (info.step.kind === 'switch') info.step.cases.forEach((c) => remember(c.source));
    }
    manifest.triggers.forEach((t) => remember(t.source));
    manifest.tests.forEach((t) => remember(t.source));
  }

  add(layer: ValidationLayer, severity: FindingSeverity, code: string, message: string, path: string): void {
    const line = this.lineOf(path);
    // A column only when the line is the source map's own for this pointer (not a fallback to the enclosing step).
    const column = line !== undefined && line === this.source?.lineOf(path) ? this.source.columnOf?.(path) : undefined;
    this.list.push({ layer, severity, code, message, file: this.source?.file ?? this.manifest.file, line, ...(column !== undefined ? { column } : {}), path });
  }

  private lineOf(path: string): number | undefined {
    const line = this.source?.lineOf(path);
    if (line !== undefined) return line;
    for (let p = path; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const l = this.fallbackLines.get(p);
      if (l !== undefined) return l;
      if (p === '') return undefined;
    }
  }
}

/**
 * Runs the semantic, security, limits and compatibility layers on a parsed manifest. `source` (from parseManifest)
 * gives every finding its exact line; without it a finding gets the line of the step, trigger or test it is in.
 */
export function validateManifest(manifest: WorkflowManifest, ctx: ValidationContext, source?: ManifestSource): Finding[] {
  const findings = new Findings(manifest, source);
  const limits = { ...DEFAULT_MANIFEST_LIMITS, ...ctx.limits };
  const timed = (layer: ValidationLayer, check: () => void): void => {
    if (!ctx.layerTimed) return check();
    const started = performance.now();
    check();
    ctx.layerTimed(layer, (performance.now() - started) / 1000);
  };
  const index = indexSteps(manifest);
  timed('semantic', () => new SemanticChecks(manifest, ctx, index, findings).run());
  timed('security', () => new SecurityChecks(manifest, ctx, index, findings).run());
  timed('limits', () => checkLimits(manifest, limits, index, findings));
  timed('compatibility', () => checkCompatibility(manifest, ctx, findings));
  return findings.list;
}

/**
 * Validates manifests loaded together (a workflows directory): each one against the others and the registry, so
 * sub-workflow refs resolve within the set, cycles across files are found, and two files with the same
 * name@version but different content are refused. Keyed by name@version.
 */
export function validateWorkflowSet(
  entries: readonly { manifest: WorkflowManifest; source?: ManifestSource }[],
  ctx: ValidationContext,
): Map<string, Finding[]> {
  const inSet = new Map<string, RegisteredVersion[]>();
  for (const { manifest } of entries) {
    const list = inSet.get(manifest.name) ?? [];
    list.push({ version: manifest.version, retired: manifest.retired, manifest, loadedTogether: true });
    inSet.set(manifest.name, list);
  }
  const setCtx: ValidationContext = {
    ...ctx,
    versionsOf: (name) => [...(ctx.versionsOf?.(name) ?? []), ...(inSet.get(name) ?? [])],
  };
  const results = new Map<string, Finding[]>();
  for (const { manifest, source } of entries) {
    const key = `${manifest.name}@${manifest.version}`;
    results.set(key, [...(results.get(key) ?? []), ...validateManifest(manifest, setCtx, source)]);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------------
// Semantic layer (and the secret rules of the security layer, which need the same walk over expressions)

type SiteKind = 'step' | 'trigger' | 'output' | 'run_failure' | 'migration';

interface ExpressionSite {
  path: string;
  mode: 'expression' | 'template';
  value: unknown;
  kind: SiteKind;
  visible: ReadonlySet<string>;
  /** The step the expression belongs to (its own output is not available to it). */
  self?: StepInfo;
  foreachBody?: string;
  /** Only an action's `with` may read secrets: what it renders is stored redacted, everything else is stored as is. */
  secretsAllowed: boolean;
  /** A condition (`if`, a switch case's `when`): its value must be a bool. Names it in a finding (`if of step a`). */
  condition?: string;
}

/** The members of `steps.<id>` an expression can read (docs/WORKFLOWS.md): anything else is a no_such_key at run time. */
export const STEP_SCOPE_MEMBERS = ['output', 'status', 'error'] as const;
const STEP_SCOPE_MEMBER_SET: ReadonlySet<string> = new Set(STEP_SCOPE_MEMBERS);

class SemanticChecks {
  constructor(
    private readonly manifest: WorkflowManifest,
    private readonly ctx: ValidationContext,
    private readonly index: StepIndex,
    private readonly findings: Findings,
  ) {}

  private error(code: string, message: string, path: string, severity: FindingSeverity = 'error'): void {
    this.findings.add('semantic', severity, code, message, path);
  }

  run(): void {
    this.duplicateIds();
    this.duplicateTriggerNames();
    for (const site of expressionSites(this.manifest, this.index)) this.expression(site);
    this.gotos();
    this.approvals();
    this.retries();
    this.workflowRefs();
    this.actionInputs();
    this.migrations();
    this.tests();
  }

  private duplicateIds(): void {
    for (const dup of this.index.duplicates) {
      const first = this.index.byId.get(dup.step.id);
      const where = first?.step.source.line !== undefined ? ` (first at line ${first.step.source.line})` : ` (first at ${first?.step.source.pointer})`;
      this.error('duplicate_step_id', `step id "${dup.step.id}" is used twice${where}; ids are unique in the whole manifest`, `${dup.step.source.pointer}/id`);
    }
  }

  /** A trigger's filter state is kept by its name: two triggers of one name would overwrite each other's. */
  private duplicateTriggerNames(): void {
    const first = new Map<string, number>();
    this.manifest.triggers.forEach((trigger, i) => {
      const earlier = first.get(trigger.name);
      if (earlier === undefined) first.set(trigger.name, i);
      else this.error('duplicate_trigger_name', `trigger name "${trigger.name}" is used twice (first by triggers[${earlier}]); each trigger keeps its filter state under its own name`, `/triggers/${i}/name`);
    });
  }

  private expression(site: ExpressionSite): void {
    let refs: ExpressionReferences;
    if (site.mode === 'expression') {
      try {
        const compiled = compileExpression(site.value as string);
        refs = compiled.references();
        // The checker knows the type where it does not depend on the data (`inputs.n + 1` is an int): such a
        // condition can never be a bool, so every run would fail the step on it.
        if (site.condition && !canBeBool(compiled.type)) {
          this.error('condition_not_bool', `${site.condition} must be a bool, got ${compiled.type} (${compiled.source.trim()})`, site.path);
        }
      } catch (error) {
        this.error('invalid_expression', (error as ExpressionSyntaxError).message, site.path);
        return;
      }
    } else {
      const errors = templateErrors(site.value);
      for (const e of errors) this.error('invalid_expression', e.message, `${site.path}${e.path}`);
      if (errors.length > 0) return;
      refs = templateReferences(compileTemplate(site.value));
    }
    const allowed = allowedRoots(site);
    for (const root of refs.roots) {
      if (root === 'secrets' || allowed.has(root)) continue;
      if (root === 'item' || root === 'index') {
        this.error('item_outside_foreach', `${root} is only available inside a foreach body`, site.path);
      } else if (root === 'event') {
        this.error('event_outside_trigger', 'event is only available in triggers', site.path);
      } else if (site.kind === 'trigger') {
        this.error('not_available_in_trigger', `${root} is not available in a trigger: it sees only event (the run does not exist yet)`, site.path);
      } else if (site.kind === 'migration') {
        this.error('not_available_in_migration', `${root} is not available in a migration: it sees only the old inputs`, site.path);
      } else {
        this.error('not_available_here', `${root} is not available here`, site.path);
      }
    }
    if (!allowed.has('steps')) return;
    if (refs.dynamicSteps) {
      this.error('dynamic_step_reference', 'steps is read with a computed id, so the reference cannot be checked', site.path, 'warning');
    }
    for (const id of refs.steps) this.stepReference(id, site);
    this.stepMembers(site);
  }

  /**
   * `steps.<id>` has `output`, `status` and `error` only: another member (`steps.a.input`) would fail the expression
   * only when it is evaluated, possibly at the run's end, after all its side effects. Reported at the string it is in.
   */
  private stepMembers(site: ExpressionSite): void {
    const places: [string, ExpressionReferences][] =
      site.mode === 'expression'
        ? [[site.path, compileExpression(site.value as string).references()]]
        : templateStrings(site.value, site.path).map(([path, text]) => [path, templateReferences(compileTemplate(text))]);
    for (const [path, refs] of places) {
      const seen = new Set<string>();
      for (const chain of refs.paths) {
        if (chain[0] !== 'steps' || chain.length < 3 || STEP_SCOPE_MEMBER_SET.has(chain[2]) || !this.index.byId.has(chain[1])) continue;
        const field = `steps.${chain[1]}.${chain[2]}`;
        if (seen.has(field)) continue;
        seen.add(field);
        this.error(
          'unknown_step_member',
          `${field}: a step has no member "${chain[2]}"; expressions see steps.${chain[1]}.output, .status and .error only${suggestId(chain[2], [...STEP_SCOPE_MEMBERS])}`,
          path,
        );
      }
    }
  }

  private stepReference(id: string, site: ExpressionSite): void {
    const target = this.index.byId.get(id);
    if (!target) {
      this.error('unknown_step_reference', `steps.${id}: there is no step "${id}"${suggestId(id, [...this.index.byId.keys()])}`, site.path);
      return;
    }
    if (site.visible.has(id)) return;
    let why: string;
    if (site.self && site.self.step.id === id) why = 'a step cannot read its own output';
    else if (target.foreachBody && target.foreachBody !== site.foreachBody && !isInsideForeach(site, target.foreachBody, this.index)) {
      why = `"${id}" runs once per item inside foreach "${target.foreachBody}"; read steps.${target.foreachBody}.output (the list of per-item results)`;
    } else if (target.inRunFailure && !site.self?.inRunFailure) why = `"${id}" is an on_failure step; it runs only after the run failed`;
    else if (site.self && target.order > site.self.order && !site.self.ancestors.includes(target.step)) why = `"${id}" runs later`;
    else if (site.self?.ancestors.includes(target.step)) why = `"${id}" encloses this step and has not finished when it runs`;
    else {
      const common = site.self ? nearestCommonAncestor(site.self, target) : undefined;
      why =
        common?.kind === 'parallel'
          ? `"${id}" runs in parallel with this step (a sibling branch of "${common.id}")`
          : common?.kind === 'switch'
            ? `"${id}" is in another case of switch "${common.id}"`
            : `"${id}" has not finished when this runs`;
    }
    this.error('step_reference_not_earlier', `steps.${id} is not available here: ${why}`, site.path);
  }

  private gotos(): void {
    for (const info of this.index.steps) {
      const failure = info.step.on_failure;
      if (!failure || !('goto' in failure)) continue;
      const target = info.block.indexOf(failure.goto);
      if (target <= info.index) {
        const later = info.block.slice(info.index + 1);
        this.error(
          'invalid_goto',
          `goto "${failure.goto}" must name a later step of the same block${later.length > 0 ? ` (${later.join(', ')})` : ' (there is none after this step)'}`,
          `${info.step.source.pointer}/on_failure/goto`,
        );
      }
    }
  }

  private approvals(): void {
    const seen = new Map<string, string>();
    for (const { step } of this.index.steps) {
      if (step.kind !== 'approval') continue;
      const path = `${step.source.pointer}/approval/signal`;
      if (!SIGNAL_NAME_PATTERN.test(step.signal)) {
        this.error('invalid_signal_name', `signal "${step.signal}" must use lower-case letters, digits, _ . - (it is part of the URL /runs/<id>/signals/<signal>)`, path);
      }
      const other = seen.get(step.signal);
      if (other) this.error('duplicate_signal', `signal "${step.signal}" is also awaited by step "${other}": one POST would satisfy whichever waits first`, path, 'warning');
      else seen.set(step.signal, step.id);
    }
  }

  private retries(): void {
    const check = (retry: RetryPolicy, path: string) => {
      if (retry.initial_interval_ms > retry.max_interval_ms) {
        this.error('invalid_retry', `initial_interval (${retry.initial_interval_ms} ms) is above max_interval (${retry.max_interval_ms} ms)`, path);
      }
    };
    check(this.manifest.retry, '/retry');
    for (const { step } of this.index.steps) {
      const retry = retryOf(step);
      if (retry && !sameRetry(retry, this.manifest.retry)) check(retry, `${step.source.pointer}/retry`);
    }
  }

  private workflowRefs(): void {
    const registered = this.ctx.versionsOf;
    if (!registered) {
      for (const { ref, path } of workflowRefsOf(this.manifest)) {
        this.error('unresolved_workflow', `cannot check ${formatWorkflowRef(ref)}: no registry to resolve it against`, path, 'warning');
      }
      return;
    }
    // This manifest is one of the versions of its name, registered yet or not.
    const self: RegisteredVersion = { version: this.manifest.version, retired: this.manifest.retired, manifest: this.manifest };
    const versionsOf = (name: string) => (name === this.manifest.name ? [...registered(name), self] : registered(name));
    for (const { ref, path } of workflowRefsOf(this.manifest)) {
      const versions = versionsOf(ref.name);
      if (versions.length === 0) {
        this.error('unknown_workflow', `workflow "${ref.name}" does not exist (referenced as ${formatWorkflowRef(ref)})`, path);
        continue;
      }
      const chosen = resolveOrMigrate(ref.range, versions);
      if (chosen?.migrateFrom !== undefined) {
        this.error(
          'migrated_workflow_ref',
          `no live version of "${ref.name}" satisfies ${ref.range}: runs start ${ref.name}@${chosen.version} with this step's inputs migrated from ${majorOf(chosen.migrateFrom)}.x`,
          path,
          'warning',
        );
      }
      const resolved = chosen?.version;
      if (!resolved) {
        const retiredMatch = versions.some((v) => v.retired && semver.satisfies(v.version, ref.range));
        const known = [...new Set(versions.map((v) => v.version))].sort(compareVersions).join(', ');
        this.error(
          'no_matching_version',
          `no ${retiredMatch ? 'non-retired ' : ''}version of "${ref.name}" satisfies ${ref.range} (known: ${known})`,
          path,
        );
        continue;
      }
      const cycle = findCycle(this.manifest, ref, resolved, versionsOf);
      if (cycle) this.error('workflow_cycle', `sub-workflows form a cycle: ${cycle.join(' → ')}`, path);
    }
  }

  private actionInputs(): void {
    for (const { step } of this.index.steps) {
      const call = actionCall(step);
      if (!call) continue;
      const schema = this.ctx.actions.get(call.action)?.inputSchema;
      if (!schema || typeof schema !== 'object') continue;
      const path = `${step.source.pointer}/with`;
      if (typeof call.with !== 'object' || call.with === null || Array.isArray(call.with)) {
        if (!isExpressionString(call.with)) this.error('invalid_action_input', `with of a ${call.action} step must be a mapping`, path);
        continue;
      }
      const given = call.with as Record<string, unknown>;
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      for (const key of required) {
        if (!(key in given)) this.error('missing_action_input', `${call.action} needs with.${key}`, path);
      }
      for (const [key, value] of Object.entries(given)) {
        if (!(key in properties)) {
          if (schema.additionalProperties === false) {
            this.error('unknown_action_input', `${call.action} has no input "${key}"${suggestId(key, Object.keys(properties))}`, `${path}/${key}`);
          }
          continue;
        }
        if (containsTemplate(value) || jsonSchemaProblem(properties[key]) !== null) continue;
        const errors = compileJsonSchema(properties[key], { rootName: `with.${key}` })(value);
        for (const e of errors) this.error('invalid_action_input', `${e.field} ${e.messages.join('; ')}`, `${path}/${key}`);
      }
    }
  }

  private migrations(): void {
    const major = majorOf(this.manifest.version);
    for (const key of Object.keys(this.manifest.migrations)) {
      const from = Number.parseInt(key, 10);
      if (!(from < major)) this.error('invalid_migration', `migration "${key}" must come from an older major version than ${major}`, `/migrations/${key}`);
    }
  }

  /** Step ids of the workflows this one starts (any registered version): a test may stub those steps too. */
  private subworkflowStepIds(): Set<string> {
    const ids = new Set<string>();
    for (const { ref } of workflowRefsOf(this.manifest)) {
      for (const version of this.ctx.versionsOf?.(ref.name) ?? []) {
        if (version.manifest) for (const id of indexSteps(version.manifest).byId.keys()) ids.add(id);
      }
    }
    return ids;
  }

  private tests(): void {
    const ids = [...this.index.byId.keys()];
    const nested = this.manifest.tests.length > 0 ? this.subworkflowStepIds() : new Set<string>();
    const validateInputs = this.manifest.inputs !== undefined && jsonSchemaProblem(this.manifest.inputs) === null ? compileJsonSchema(this.manifest.inputs) : undefined;
    this.manifest.tests.forEach((test, i) => {
      const base = `/tests/${i}`;
      for (const id of Object.keys(test.stub)) {
        if (!this.index.byId.has(id) && !nested.has(id)) {
          this.error('unknown_test_step', `test "${test.name}" stubs "${id}", which is not a step here or of a workflow this one starts${suggestId(id, ids)}`, `${base}/stub/${id}`);
        }
      }
      (test.expect.steps_taken ?? []).forEach((id, j) => {
        if (!this.index.byId.has(id)) this.error('unknown_test_step', `test "${test.name}" expects step "${id}", which is not a step${suggestId(id, ids)}`, `${base}/expect/steps_taken/${j}`);
      });
      for (const e of validateInputs?.(test.inputs) ?? []) {
        this.error('invalid_test_inputs', `test "${test.name}": ${e.field} ${e.messages.join('; ')}`, `${base}/inputs`);
      }
    });
  }
}

function allowedRoots(site: ExpressionSite): ReadonlySet<string> {
  switch (site.kind) {
    case 'trigger':
      return new Set(['event']);
    case 'migration':
      return new Set(['inputs']);
    case 'output':
    case 'run_failure':
      return new Set(['inputs', 'steps', 'run']);
    case 'step':
      return new Set(site.foreachBody ? ['inputs', 'steps', 'run', 'item', 'index'] : ['inputs', 'steps', 'run']);
  }
}

function isInsideForeach(site: ExpressionSite, foreachId: string, index: StepIndex): boolean {
  let current = site.foreachBody;
  while (current) {
    if (current === foreachId) return true;
    current = index.byId.get(current)?.foreachBody;
  }
  return false;
}

function nearestCommonAncestor(a: StepInfo, b: StepInfo): Step | undefined {
  let common: Step | undefined;
  for (let i = 0; i < Math.min(a.ancestors.length, b.ancestors.length); i++) {
    if (a.ancestors[i] !== b.ancestors[i]) break;
    common = a.ancestors[i];
  }
  return common;
}

/** Every place an expression or template is written, with what it may see. */
function expressionSites(manifest: WorkflowManifest, index: StepIndex): ExpressionSite[] {
  const sites: ExpressionSite[] = [];
  for (const info of index.steps) {
    const { step } = info;
    const p = step.source.pointer;
    const kind: SiteKind = 'step';
    const base = { kind, visible: info.visible, self: info, foreachBody: info.foreachBody, secretsAllowed: false };
    if (step.if !== undefined) sites.push({ ...base, path: `${p}/if`, mode: 'expression', value: step.if, condition: `if of step ${step.id}` });
    if (step.on_failure && 'workflow' in step.on_failure && step.on_failure.with !== undefined) {
      // A fallback may read the failed step itself (its error).
      sites.push({ ...base, visible: new Set([...info.visible, step.id]), path: `${p}/on_failure/with`, mode: 'template', value: step.on_failure.with });
    }
    switch (step.kind) {
      case 'action':
        sites.push({ ...base, path: `${p}/with`, mode: 'template', value: step.with, secretsAllowed: true });
        break;
      case 'workflow':
        sites.push({ ...base, path: `${p}/with`, mode: 'template', value: step.with });
        break;
      case 'foreach':
        sites.push({ ...base, path: `${p}/foreach`, mode: 'expression', value: step.items });
        if (step.body.kind !== 'group') {
          sites.push({ ...base, foreachBody: step.id, path: `${p}/with`, mode: 'template', value: step.body.with, secretsAllowed: step.body.kind === 'action' });
        }
        break;
      case 'switch':
        step.cases.forEach((c, i) =>
          sites.push({ ...base, path: `${c.source.pointer}/when`, mode: 'expression', value: c.when, condition: `switch case ${i} of step ${step.id}` }),
        );
        break;
      case 'sleep':
        if (step.until !== undefined) sites.push({ ...base, path: `${p}/sleep/until`, mode: 'template', value: step.until });
        if (step.for !== undefined) sites.push({ ...base, path: `${p}/sleep/for`, mode: 'template', value: step.for });
        break;
      default:
        break;
    }
  }
  manifest.triggers.forEach((trigger, i) => {
    const base = { kind: 'trigger' as const, visible: new Set<string>(), secretsAllowed: false };
    const t = `/triggers/${i}`;
    if (trigger.key !== undefined) sites.push({ ...base, path: `${t}/key`, mode: 'expression', value: trigger.key });
    if (trigger.if !== undefined) sites.push({ ...base, path: `${t}/if`, mode: 'expression', value: trigger.if, condition: `if of triggers[${i}]` });
    if (trigger.threshold) sites.push({ ...base, path: `${t}/threshold/field`, mode: 'expression', value: trigger.threshold.field });
    if (trigger.delta) sites.push({ ...base, path: `${t}/delta/field`, mode: 'expression', value: trigger.delta.field });
    sites.push({ ...base, path: `${t}/inputs`, mode: 'template', value: trigger.inputs });
  });
  if (manifest.output !== undefined) {
    sites.push({ kind: 'output', visible: index.mainIds, secretsAllowed: false, path: '/output', mode: 'template', value: manifest.output });
  }
  if (manifest.on_failure?.with !== undefined) {
    sites.push({ kind: 'run_failure', visible: index.mainIds, secretsAllowed: false, path: '/on_failure/with', mode: 'template', value: manifest.on_failure.with });
  }
  for (const [key, template] of Object.entries(manifest.migrations)) {
    sites.push({ kind: 'migration', visible: new Set(), secretsAllowed: false, path: `/migrations/${key}`, mode: 'template', value: template });
  }
  return sites;
}

/** Every string of a template value that holds a `{{ }}`, with its JSON pointer (as compileTemplate walks it). */
function templateStrings(value: unknown, path: string, depth = 0, out: [string, string][] = []): [string, string][] {
  if (depth > 128) return out;
  if (typeof value === 'string') {
    if (value.includes('{{')) out.push([path, value]);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => templateStrings(v, `${path}/${i}`, depth + 1, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) templateStrings(v, `${path}/${escapePointerToken(key)}`, depth + 1, out);
  }
  return out;
}

function retryOf(step: Step): RetryPolicy | undefined {
  if (step.kind === 'action' || step.kind === 'workflow') return step.retry;
  if (step.kind === 'foreach' && step.body.kind !== 'group') return step.body.retry;
  return undefined;
}

function sameRetry(a: RetryPolicy, b: RetryPolicy): boolean {
  return (
    a.max_attempts === b.max_attempts &&
    a.initial_interval_ms === b.initial_interval_ms &&
    a.backoff_coefficient === b.backoff_coefficient &&
    a.max_interval_ms === b.max_interval_ms &&
    a.non_retryable.join('\0') === b.non_retryable.join('\0')
  );
}

function actionCall(step: Step): { action: string; with: unknown } | undefined {
  if (step.kind === 'action') return { action: step.action, with: step.with };
  if (step.kind === 'foreach' && step.body.kind === 'action') return { action: step.body.action, with: step.body.with };
  return undefined;
}

function containsTemplate(value: unknown): boolean {
  if (typeof value === 'string') return isExpressionString(value);
  if (Array.isArray(value)) return value.some(containsTemplate);
  if (value !== null && typeof value === 'object') return Object.values(value).some(containsTemplate);
  return false;
}

/** The chain of workflows from this manifest back to itself through `ref`, if there is one. */
function findCycle(
  manifest: WorkflowManifest,
  ref: WorkflowRef,
  resolved: string,
  versionsOf: (name: string) => RegisteredVersion[],
): string[] | undefined {
  const start = `${manifest.name}@${manifest.version}`;
  const first = `${ref.name}@${resolved}`;
  if (first === start) return [start, start];
  const manifestOf = (name: string, version: string): WorkflowManifest | undefined =>
    versionsOf(name).find((v) => v.version === version && v.manifest)?.manifest;
  const previous = new Map<string, string>([[first, start]]);
  const queue = [first];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    const at = node.lastIndexOf('@');
    const m = manifestOf(node.slice(0, at), node.slice(at + 1));
    if (!m) continue;
    for (const { ref: next } of workflowRefsOf(m)) {
      // Resolved as runs resolve it (a migration heir included), so a cycle through a migrated reference is found too.
      const version = resolveOrMigrate(next.range, versionsOf(next.name))?.version;
      if (!version) continue;
      const target = `${next.name}@${version}`;
      if (target === start) {
        const chain = [start];
        for (let n: string | undefined = node; n && n !== start; n = previous.get(n)) chain.splice(1, 0, n);
        return [...chain, start];
      }
      if (!previous.has(target)) {
        previous.set(target, node);
        queue.push(target);
      }
    }
  }
  return undefined;
}

function suggestId(id: string, candidates: string[]): string {
  const close = candidates.find((c) => c !== id && distance(c, id) <= 2);
  return close ? `; did you mean "${close}"?` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------------------------------------------
// Security layer

const SECRET_KEY = /(^|_)(password|passwd|passphrase|secret|token|api_?key|apikey|authorization|auth|private_?key|access_?key|client_?secret|credentials?)$/;

const CREDENTIAL_PATTERNS: [RegExp, string][] = [
  [/\bBearer\s+[A-Za-z0-9\-._~+/]{8,}=*/, 'a literal Bearer token'],
  [/\bBasic\s+[A-Za-z0-9+/]{8,}=*/, 'literal Basic credentials'],
  [/\bsk-[A-Za-z0-9_-]{16,}/, 'an API key (sk-…)'],
  [/\b(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}/, 'a GitHub token'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/\bAKIA[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/, 'a JWT'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/\b[0-9a-fA-F]{32,}\b/, 'a long hex string (a key or token?)'],
];

/** A 32+ character run of base64/base64url characters mixing upper case, lower case and digits. */
function looksLikeRandomBlob(text: string): boolean {
  for (const match of text.matchAll(/[A-Za-z0-9+_-]{32,}={0,2}/g)) {
    const s = match[0];
    if (/[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s)) return true;
  }
  return false;
}

class SecurityChecks {
  constructor(
    private readonly manifest: WorkflowManifest,
    private readonly ctx: ValidationContext,
    private readonly index: StepIndex,
    private readonly findings: Findings,
  ) {}

  private error(code: string, message: string, path: string, severity: FindingSeverity = 'error'): void {
    this.findings.add('security', severity, code, message, path);
  }

  run(): void {
    this.actions();
    this.httpHosts();
    for (const site of expressionSites(this.manifest, this.index)) this.secretsIn(site);
    this.inlineSecrets();
  }

  private actions(): void {
    const allowed = new Set(this.manifest.security.actions);
    for (const { step } of this.index.steps) {
      const call = actionCall(step);
      if (!call) continue;
      const path = `${step.source.pointer}/action`;
      if (!allowed.has(call.action)) {
        this.error('action_not_allowed', `action "${call.action}" is not in security.actions (${[...allowed].join(', ') || 'none'})`, path);
      }
      if (!this.ctx.actions.has(call.action)) {
        this.error('unknown_action', `action "${call.action}" is not one the executor can run (${[...this.ctx.actions.keys()].join(', ')})`, path);
      }
    }
    this.manifest.security.actions.forEach((action, i) => {
      if (!this.ctx.actions.has(action)) this.error('unknown_action', `security.actions names "${action}", which the executor cannot run`, `/security/actions/${i}`, 'warning');
    });
  }

  private httpHosts(): void {
    const policy = this.ctx.policyHttpHosts;
    const declared = this.manifest.security.http_hosts;
    if (policy) {
      declared.forEach((entry, i) => {
        // A warning: one manifest serves deployments with different egress; a step that calls such a host fails
        // when it runs (and a literal URL to one is an error below).
        if (!policy.some((p) => patternWithin(entry, p))) {
          this.error(
            'http_host_not_in_policy',
            `http host "${entry}" is not allowed by this deployment's policy (${policy.join(', ') || 'none'}); steps calling it will fail`,
            `/security/http_hosts/${i}`,
            'warning',
          );
        }
      });
    }
    for (const { step } of this.index.steps) {
      const call = actionCall(step);
      if (!call || call.action !== 'http') continue;
      const url = (call.with as Record<string, unknown> | null)?.url;
      const path = `${step.source.pointer}/with/url`;
      if (typeof url !== 'string') continue; // a missing url is the action schema's finding
      const target = literalUrlTarget(url);
      if (target === 'invalid') {
        this.error('invalid_url', `"${url}" is not an http(s) URL`, path);
        continue;
      }
      if (target === undefined) {
        this.error('http_host_unchecked', `the host of "${url}" is computed, so it is checked only when the step runs`, path, 'warning');
        continue;
      }
      if (!declared.some((entry) => hostMatches(entry, target))) {
        this.error('http_host_not_allowed', `host "${target.host}" is not in security.http_hosts (${declared.join(', ') || 'none'})`, path);
      } else if (policy && !policy.some((entry) => hostMatches(entry, target))) {
        this.error('http_host_not_in_policy', `host "${target.host}" is not allowed by the deployment's policy`, path);
      }
    }
  }

  private secretsIn(site: ExpressionSite): void {
    let refs: ExpressionReferences;
    try {
      refs = site.mode === 'expression' ? compileExpression(site.value as string).references() : templateReferences(compileTemplate(site.value));
    } catch {
      return; // the semantic layer reports the syntax error
    }
    if (!refs.roots.includes('secrets')) return;
    if (!site.secretsAllowed) {
      this.error(
        'secret_not_allowed_here',
        "secrets can be read only in an action step's with (stored redacted there); a value here would be stored or logged as is",
        site.path,
      );
      return;
    }
    if (refs.dynamicSecrets) this.error('dynamic_secret_access', 'secrets must be read by a literal name (secrets.NAME), so what a step can read is known', site.path);
    const declared = new Set(this.manifest.security.secrets);
    for (const name of refs.secrets) {
      if (!declared.has(name)) this.error('undeclared_secret', `secrets.${name} is not declared in security.secrets`, site.path);
    }
  }

  private inlineSecrets(): void {
    const scan = (value: unknown, path: string, depth: number): void => {
      if (depth > 64) return;
      if (typeof value === 'string') {
        const literal = value.replace(/\{\{[\s\S]*?\}\}/g, ' ');
        const hit = CREDENTIAL_PATTERNS.find(([pattern]) => pattern.test(literal));
        if (hit) this.error('inline_secret', `this looks like ${hit[1]}; keep credentials out of manifests: declare it in security.secrets and write {{ secrets.NAME }}`, path);
        else if (looksLikeRandomBlob(literal)) {
          this.error('inline_secret', 'this looks like a credential (a long random string); declare it in security.secrets and write {{ secrets.NAME }}', path);
        }
        return;
      }
      if (Array.isArray(value)) {
        value.forEach((v, i) => scan(v, `${path}/${i}`, depth + 1));
        return;
      }
      if (value === null || typeof value !== 'object') return;
      for (const [key, v] of Object.entries(value)) {
        const normalised = key.toLowerCase().replace(/-/g, '_');
        if (SECRET_KEY.test(normalised) && typeof v === 'string' && v.trim() !== '' && !isExpressionString(v)) {
          this.error('inline_secret', `"${key}" holds a literal value; declare it in security.secrets and write {{ secrets.NAME }}`, `${path}/${key}`);
          continue;
        }
        scan(v, `${path}/${key}`, depth + 1);
      }
    };
    for (const { step } of this.index.steps) {
      const p = step.source.pointer;
      if (step.kind === 'action' || step.kind === 'workflow') scan(step.with, `${p}/with`, 0);
      if (step.kind === 'foreach' && step.body.kind !== 'group') scan(step.body.with, `${p}/with`, 0);
      if (step.on_failure && 'workflow' in step.on_failure) scan(step.on_failure.with, `${p}/on_failure/with`, 0);
    }
    this.manifest.triggers.forEach((t, i) => scan(t.inputs, `/triggers/${i}/inputs`, 0));
    scan(this.manifest.output, '/output', 0);
    scan(this.manifest.on_failure?.with, '/on_failure/with', 0);
    for (const [key, template] of Object.entries(this.manifest.migrations)) scan(template, `/migrations/${key}`, 0);
  }
}

interface UrlTarget {
  host: string;
  port?: string;
}

/** The host of a URL whose scheme and host are literal (a template may follow); undefined if the host is computed. */
function literalUrlTarget(url: string): UrlTarget | 'invalid' | undefined {
  const cut = url.indexOf('{{');
  const literal = cut < 0 ? url : url.slice(0, cut);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(literal);
  if (!scheme) return cut === 0 || (cut > 0 && !literal.includes(':')) ? undefined : 'invalid';
  if (!/^https?$/i.test(scheme[1])) return 'invalid';
  const rest = literal.slice(scheme[0].length);
  const end = rest.search(/[/?#]/);
  if (end < 0 && cut >= 0) return undefined; // the host runs into the template
  const authority = end < 0 ? rest : rest.slice(0, end);
  if (authority.includes('@')) return 'invalid'; // credentials in the URL
  const match = /^([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(authority);
  if (!match) return 'invalid';
  return { host: match[1].toLowerCase(), port: match[2] };
}

/** `hooks.example.com` matches itself; `*.example.com` matches any subdomain (not example.com); `host:port` also the port. */
function hostMatches(entry: string, target: UrlTarget): boolean {
  const [pattern, port] = entry.toLowerCase().split(':');
  if (port !== undefined && port !== (target.port ?? '')) return false;
  if (pattern.startsWith('*.')) return target.host.endsWith(pattern.slice(1)) && target.host.length > pattern.length - 1;
  return target.host === pattern;
}

/** Is every host `entry` allows also allowed by `policy`? */
function patternWithin(entry: string, policy: string): boolean {
  const [host, port] = entry.toLowerCase().split(':');
  const [policyHost, policyPort] = policy.toLowerCase().split(':');
  if (policyPort !== undefined && policyPort !== port) return false;
  if (host.startsWith('*.')) return policyHost.startsWith('*.') && host.slice(1).endsWith(policyHost.slice(1));
  return hostMatches(policyHost, { host, port });
}

// ---------------------------------------------------------------------------------------------------------------
// Limits layer

function checkLimits(manifest: WorkflowManifest, limits: ManifestLimits, index: StepIndex, findings: Findings): void {
  const error = (code: string, message: string, path: string, severity: FindingSeverity = 'error') => findings.add('limits', severity, code, message, path);
  const runTimeout = manifest.timeout_ms;
  const ms = (n: number) => `${n} ms`;

  if (index.steps.length > limits.max_steps) error('too_many_steps', `${index.steps.length} steps; the limit is ${limits.max_steps}`, '/steps');
  if (manifest.triggers.length > limits.max_triggers) error('too_many_triggers', `${manifest.triggers.length} triggers; the limit is ${limits.max_triggers}`, '/triggers');
  if (runTimeout !== undefined && runTimeout > limits.max_run_timeout_ms) {
    error('run_timeout_too_long', `the run timeout ${ms(runTimeout)} is above the limit of ${ms(limits.max_run_timeout_ms)}`, '/timeout');
  }
  const runBound = Math.min(runTimeout ?? Number.POSITIVE_INFINITY, limits.max_run_timeout_ms);
  const boundName = runTimeout !== undefined && runTimeout <= limits.max_run_timeout_ms ? "the run's timeout" : 'the longest run allowed';

  const checkRetry = (retry: RetryPolicy, path: string) => {
    if (retry.max_attempts > limits.max_attempts) error('too_many_attempts', `max_attempts ${retry.max_attempts} is above the limit of ${limits.max_attempts}`, `${path}/max_attempts`);
    for (const [key, value] of [
      ['initial_interval', retry.initial_interval_ms],
      ['max_interval', retry.max_interval_ms],
    ] as const) {
      if (value > limits.max_retry_interval_ms) error('retry_interval_too_long', `${key} ${ms(value)} is above the limit of ${ms(limits.max_retry_interval_ms)}`, `${path}/${key}`);
    }
  };
  checkRetry(manifest.retry, '/retry');

  for (const info of index.steps) {
    const { step } = info;
    const p = step.source.pointer;
    if (info.depth === limits.max_depth + 1) error('nesting_too_deep', `step "${step.id}" is nested ${info.depth} deep; the limit is ${limits.max_depth}`, p);
    const retry = retryOf(step);
    if (retry && !sameRetry(retry, manifest.retry)) checkRetry(retry, `${p}/retry`);
    if (step.kind === 'parallel' && step.branches.length > limits.max_parallel_branches) {
      error('too_many_branches', `${step.branches.length} parallel branches; the limit is ${limits.max_parallel_branches}`, `${p}/parallel`);
    }
    if (step.kind === 'foreach' && step.concurrency > limits.max_foreach_concurrency) {
      error('concurrency_too_high', `concurrency ${step.concurrency} is above the limit of ${limits.max_foreach_concurrency}`, `${p}/concurrency`);
    }
    // A wait longer than the run's timeout is legal (the timeout ends the run first) but rarely what was meant.
    const longWait = (what: string, duration: number, path: string) => {
      if (runTimeout !== undefined && duration > runTimeout) {
        error('wait_exceeds_run_timeout', `${what} ${ms(duration)} is longer than the run's timeout (${ms(runTimeout)}), which ends the run first`, path, 'warning');
      }
    };
    if (step.kind === 'sleep' && step.duration_ms !== undefined) {
      if (step.duration_ms > limits.max_sleep_ms) error('sleep_too_long', `sleep ${ms(step.duration_ms)} is above the limit of ${ms(limits.max_sleep_ms)}`, `${p}/sleep`);
      else longWait('sleep', step.duration_ms, `${p}/sleep`);
    }
    if (step.kind === 'approval') {
      const path = `${p}/approval/timeout`;
      if (step.timeout_ms === undefined) {
        if (runTimeout === undefined) error('unbounded_wait', `approval "${step.signal}" has no timeout and the run has none: it may wait forever`, `${p}/approval`, 'warning');
      } else if (step.timeout_ms > limits.max_approval_timeout_ms) {
        error('approval_timeout_too_long', `approval timeout ${ms(step.timeout_ms)} is above the limit of ${ms(limits.max_approval_timeout_ms)}`, path);
      } else {
        longWait('approval timeout', step.timeout_ms, path);
      }
      continue;
    }
    if (step.timeout_ms !== undefined && step.timeout_ms > runBound) {
      error('step_timeout_exceeds_run', `step timeout ${ms(step.timeout_ms)} is longer than ${boundName} (${ms(runBound)})`, `${p}/timeout`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Compatibility layer

function checkCompatibility(manifest: WorkflowManifest, ctx: ValidationContext, findings: Findings): void {
  if (!ctx.versionsOf) return;
  const error = (code: string, message: string, path: string, severity: FindingSeverity = 'error') => findings.add('compatibility', severity, code, message, path);
  const versions = ctx.versionsOf(manifest.name);
  for (const v of versions) {
    // The lifecycle flags (deprecated, retired) may change on a registered version: only other content is refused.
    if (v.version !== manifest.version || !v.manifest) continue;
    if (v.loadedTogether ? v.manifest.content_hash !== manifest.content_hash : !sameDefinition(v.manifest, manifest)) {
      error('version_immutable', `${manifest.name}@${manifest.version} is already registered with other content; give this one a new version`, '/version');
      break;
    }
  }
  const older = versions.filter((v) => compareVersions(v.version, manifest.version) < 0).sort((a, b) => compareVersions(b.version, a.version));
  const previous = older[0];
  if (!previous) return;
  if (!previous.manifest) {
    error('compatibility_unchecked', `the inputs of ${manifest.name}@${previous.version} are not known, so compatibility with it is not checked`, '/inputs', 'warning');
    return;
  }
  const result = inputsCompatibility(previous.manifest.inputs, manifest.inputs);
  if (majorOf(manifest.version) > majorOf(previous.version)) return;
  for (const change of result.changes) {
    error(
      'breaking_inputs_change',
      `${change.field}: ${change.message}; inputs that ${previous.version} accepted would be refused, which needs a new major version (${majorOf(manifest.version) + 1}.0.0)`,
      `/inputs${change.pointer}`,
    );
  }
  for (const warning of result.warnings) error('possibly_breaking_inputs_change', warning, '/inputs', 'warning');
}

// ---------------------------------------------------------------------------------------------------------------
// Modes and output

/** strict: any error refuses; permissive: limits and compatibility errors become warnings; audit: nothing refused. */
export function applyValidationMode(findings: readonly Finding[], mode: ValidationMode): { accepted: boolean; findings: Finding[] } {
  const softened =
    mode === 'permissive'
      ? findings.map((f) => (f.severity === 'error' && (f.layer === 'limits' || f.layer === 'compatibility') ? { ...f, severity: 'warning' as const } : f))
      : [...findings];
  const accepted = mode === 'audit' || !softened.some((f) => f.severity === 'error');
  return { accepted, findings: softened };
}

/** `file:line: severity [layer/code] message (path)`, the form compilers use, so editors can jump to it. */
export function formatFinding(finding: Finding): string {
  const where = `${finding.file ?? '<manifest>'}${finding.line !== undefined ? `:${finding.line}` : ''}`;
  return `${where}: ${finding.severity} [${finding.layer}/${finding.code}] ${finding.message} (${finding.path || '/'})`;
}
