/**
 * A workflow manifest after parsing and normalisation (docs/WORKFLOWS.md is the format users write).
 * Durations are milliseconds, defaults are filled in, shorthand forms are expanded, and every step carries
 * the JSON pointer (and line, when parsed from a file) it came from, so findings and run views can point at it.
 *
 * This is the shape the engine interprets; it holds no compiled expressions (see expressions.ts), so it can be
 * stored as JSON (the executor keeps each registered name@version's normalised manifest in its database).
 */

/** JSON Schema (draft 2020-12) as written in the manifest. */
export type JsonSchema = Record<string, unknown> | boolean;

/**
 * A value that may contain `{{ expr }}` templates in its strings, at any depth (the raw YAML value).
 * A string that is exactly one `{{ expr }}` keeps the expression's type; other strings interpolate.
 */
export type TemplateValue = unknown;

export const RUN_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'timed_out'];

export const STEP_STATUSES = ['pending', 'running', 'completed', 'failed', 'skipped', 'cancelled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface RetryPolicy {
  /** Attempts in all, the first included (1 = no retry). */
  max_attempts: number;
  initial_interval_ms: number;
  backoff_coefficient: number;
  max_interval_ms: number;
  /** Error codes never retried, on top of the ones the action itself declares terminal. */
  non_retryable: string[];
}

/** Defaults when a manifest says nothing (a step's `retry` overrides field by field). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  max_attempts: 3,
  initial_interval_ms: 1_000,
  backoff_coefficient: 2,
  max_interval_ms: 60_000,
  non_retryable: [],
};

export interface SecuritySpec {
  /** Actions the workflow may call; empty in the file = none allowed (validation reports each use). */
  actions: string[];
  /** Hosts an `http` step's URL may name (exact host, or `*.example.com`). */
  http_hosts: string[];
  /** Secret names `secrets.<NAME>` may read; values come from the environment or the secrets file, never the manifest. */
  secrets: string[];
}

/** `publish-one@^1` → { name: 'publish-one', range: '^1' }; no `@` means any version (`*`). */
export interface WorkflowRef {
  name: string;
  range: string;
}

/** Where something came from in the manifest: a JSON pointer, and the 1-based line when parsed from text. */
export interface SourceLocation {
  pointer: string;
  line?: number;
}

export type StepFailureSpec =
  /** Record the step as failed and go on with the next step (`steps.<id>.status == "failed"`). */
  | { continue: true }
  /** Record the step as failed and continue at a later step of the same block. */
  | { goto: string }
  /** Run a fallback workflow (inputs: `with`, plus `failed_run_id`, `failed_step`, `error`); its output becomes the step's. */
  | { workflow: WorkflowRef; with?: TemplateValue };

interface StepBase {
  /** Unique in the whole manifest ([a-z0-9_]+). */
  id: string;
  description?: string;
  /** CEL condition; false → the step is skipped. */
  if?: string;
  /** Per attempt for actions; for the whole step otherwise. */
  timeout_ms?: number;
  on_failure?: StepFailureSpec;
  source: SourceLocation;
}

export interface ActionStep extends StepBase {
  kind: 'action';
  action: string;
  with: TemplateValue;
  /** The manifest's retry merged with the step's own. */
  retry: RetryPolicy;
}

export interface ParallelStep extends StepBase {
  kind: 'parallel';
  branches: Step[];
  join: 'all' | 'any';
  fail_fast: boolean;
}

export interface SwitchCase {
  /** CEL condition; the first case whose condition is true runs. */
  when: string;
  steps: Step[];
  source: SourceLocation;
}

export interface SwitchStep extends StepBase {
  kind: 'switch';
  cases: SwitchCase[];
  /** Runs when no case matches; without it, no match completes the step with nothing run. */
  default?: Step[];
}

/** A sequence run as one step (a parallel branch or a foreach body with several steps). */
export interface GroupStep extends StepBase {
  kind: 'group';
  steps: Step[];
}

/** What a foreach runs per item: one action, one sub-workflow, or a sequence. */
export type ForeachBody =
  | { kind: 'action'; action: string; with: TemplateValue; retry: RetryPolicy }
  | { kind: 'workflow'; workflow: WorkflowRef; with: TemplateValue; retry: RetryPolicy }
  | { kind: 'group'; steps: Step[] };

export interface ForeachStep extends StepBase {
  kind: 'foreach';
  /**
   * CEL giving the list, evaluated once, at the step's start. Stored bare: `foreach: "{{ inputs.list }}"` in the file
   * becomes `inputs.list` (compileExpression accepts either form).
   */
  items: string;
  concurrency: number;
  body: ForeachBody;
}

export interface WorkflowStep extends StepBase {
  kind: 'workflow';
  workflow: WorkflowRef;
  with: TemplateValue;
  retry: RetryPolicy;
}

export interface SleepStep extends StepBase {
  kind: 'sleep';
  /** `sleep: 1h` */
  duration_ms?: number;
  /** `sleep: { until: "{{ inputs.at }}" }`: an RFC 3339 time. */
  until?: string;
  /** `sleep: { for: "{{ inputs.wait }}" }`: a duration (`90s`, or milliseconds) known only when the step starts. */
  for?: string;
}

export interface ApprovalStep extends StepBase {
  kind: 'approval';
  /** The signal name that approves (POST /runs/:id/signals/<signal>); its payload is the step's output. */
  signal: string;
  timeout_ms?: number;
  /** What a timeout does: fail the step, or complete it with `{ timed_out: true }`. */
  on_timeout: 'fail' | 'continue';
}

export type Step =
  | ActionStep
  | ParallelStep
  | SwitchStep
  | GroupStep
  | ForeachStep
  | WorkflowStep
  | SleepStep
  | ApprovalStep;

export type StepKind = Step['kind'];

export interface RunFailureSpec {
  /** A fallback run started when this run fails (inputs: `with`, plus failed_run_id, workflow, version, error). */
  workflow?: WorkflowRef;
  with?: TemplateValue;
  /** Compensating steps run after the failure (they see `run.error`); the run still ends failed. */
  steps?: Step[];
}

export interface ThresholdFilter {
  /** CEL over `event`, e.g. `event.data.score`. */
  field: string;
  above?: number;
  below?: number;
  /** `crossing`: only when the value moves across the line (needs the key's previous value); `every`: each event beyond it. */
  on: 'crossing' | 'every';
}

export interface TriggerSpec {
  /** Name for reports (default `<event>#<index>`). */
  name: string;
  /** An event type, or a prefix ending in `.*`. */
  event: string;
  /** CEL over `event`; default: the event type. Every stateful filter keeps its state under this key. */
  key?: string;
  if?: string;
  threshold?: ThresholdFilter;
  delta?: { field: string; min_change: number; relative: boolean };
  dedup?: { window_ms: number };
  rate_limit?: { max: number; per_ms: number; mode: 'drop' | 'delay' };
  debounce?: { quiet_ms: number };
  /** Templates over `event` giving the run's inputs (default `{{ event.data }}`). */
  inputs: TemplateValue;
  source: SourceLocation;
}

export interface WorkflowTestCase {
  name: string;
  inputs: Record<string, unknown>;
  /** By step id: the result the step's action (or sub-workflow) returns instead of running. */
  stub: Record<string, { output?: unknown; error?: { code: string; message?: string } }>;
  /** Signals delivered to the run, by name (approvals). */
  signals: Record<string, unknown>;
  expect: {
    status: RunStatus;
    output?: unknown;
    /** Error code of the run's failure. */
    error?: string;
    /** Ids of the steps that ran (completed or failed, not skipped), in the order they started. */
    steps_taken?: string[];
  };
  source: SourceLocation;
}

export interface WorkflowManifest {
  name: string;
  /** Semver (x.y.z[-pre]). name@version is immutable once registered. */
  version: string;
  description?: string;
  owner?: string;
  enabled: boolean;
  deprecated: boolean;
  retired: boolean;
  inputs?: JsonSchema;
  outputs?: JsonSchema;
  timeout_ms?: number;
  /** The manifest-wide default for action and workflow steps. */
  retry: RetryPolicy;
  security: SecuritySpec;
  triggers: TriggerSpec[];
  steps: Step[];
  /** Template for the run's output (default: the last completed step's output). */
  output?: TemplateValue;
  on_failure?: RunFailureSpec;
  tests: WorkflowTestCase[];
  /** From an older major (`1.x`) to this version: a map of input templates over the old `inputs`. */
  migrations: Record<string, Record<string, TemplateValue>>;
  /** sha256 (hex) of the canonical JSON of the document as written (lifecycle flags included). */
  content_hash: string;
  /**
   * sha256 (hex) of the canonical JSON of the document without its lifecycle flags (`deprecated`, `retired`): what
   * "same definition" means. The flags are a registered version's mutable state, so a file differing only in them
   * is the same version with its state changed, not other content (see sameDefinition). Absent in manifests stored
   * before it existed; the registry reparses stored sources, so it is always there for the registry's own.
   */
  definition_hash?: string;
  /** The file it was read from (relative to the workflows directory), when it came from one. */
  file?: string;
}

export const VALIDATION_LAYERS = ['syntax', 'semantic', 'security', 'limits', 'compatibility'] as const;
export type ValidationLayer = (typeof VALIDATION_LAYERS)[number];
export type FindingSeverity = 'error' | 'warning';

/** One problem found in a manifest: which layer found it, how bad, and where (file:line and JSON pointer). */
export interface Finding {
  layer: ValidationLayer;
  severity: FindingSeverity;
  /** Stable, machine-readable (e.g. `duplicate_step_id`, `unknown_action`, `http_host_not_allowed`). */
  code: string;
  message: string;
  file?: string;
  line?: number;
  /** 1-based column on `line`, when the source map knows it. */
  column?: number;
  /** JSON pointer into the manifest (e.g. `/steps/2/with/recipient`). */
  path: string;
}

/** strict: any error refuses the manifest; permissive: limits and compatibility errors become warnings; audit: nothing refused. */
export type ValidationMode = 'strict' | 'permissive' | 'audit';
