/**
 * Every answer of Core's the CLI reads, checked at the client boundary (CoreClient takes one with each request): what
 * a command draws is there and of its type, or the command fails in one line saying the server did not answer as
 * Core does (a PANCHA_URL pointing at another service, say), instead of drawing `undefined` or failing inside.
 *
 * Each check names the fields the commands read, typed as Core's contract types them (`coreAnswer<Contract>()` does
 * not compile when Core's own type of the answer would not pass its check); others are kept as they came, for
 * `--json` and for the event views drawn from the shape of the answer.
 */
import type {
  EventAccepted,
  EventListResponse,
  EventStats,
  EventView,
  HandleTasksAccepted,
  PluginDetailView,
  PluginListResponse,
  PluginReloadReport,
  RunListResponse,
  RunRequestView,
  RunSummaryView,
  RunView,
  WorkflowListResponse,
  WorkflowStatsResponse,
  WorkflowSummaryView,
} from '@pancha/contracts';
import type { WorkflowLoadReport, WorkflowManifest } from '@pancha/workflow-manifest';
import {
  anything,
  arrayOf,
  boolean,
  type Check,
  lazy,
  nullable,
  number,
  object,
  oneOf,
  optional,
  recordOf,
  type Shape,
  ShapeMismatch,
  string,
} from './shape';

/** One kind of answer: what it is called in an error (`a workflow list`) and its check. */
export interface Answer<T> {
  what: string;
  check: Check<T>;
}

/** An answer whose check Core's contract type `Core` passes (an argument more is required, and a compile error, otherwise). */
function coreAnswer<Core>() {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- `_fits` is there for its type alone
  return <T>(what: string, check: Check<T>, ..._fits: [Core] extends [T] ? [] : ["Core's type of this answer does not pass its check"]): Answer<T> => ({
    what,
    check,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

const messageText: Check<string | string[]> = (v, at) => (Array.isArray(v) ? arrayOf(string)(v, at) : string(v, at));

/** Core's error body (service-kit's ApiExceptionFilter): `{ code, message, trace_id, errors? }`. */
export const CORE_ERROR = coreAnswer<{ code: string; message: string; errors?: { field: string; messages: string[] }[] }>()(
  "an error of Core's ({code, message})",
  object({ code: string, message: messageText, errors: optional(anything) }),
);

// ---------------------------------------------------------------------------------------------------------------
// Workflows

const versionView = object({
  version: string,
  present: boolean,
  deprecated: boolean,
  retired: boolean,
  live_runs: number,
  registered_at: string,
  file: nullable(string),
});

const workflowSummary = object({
  name: string,
  enabled: boolean,
  default_version: nullable(string),
  description: nullable(string),
  versions: arrayOf(versionView),
  setting: nullable(object({ enabled: boolean, updated_by: string, updated_at: string, reason: nullable(string) })),
});
export type WorkflowSummary = Shape<typeof workflowSummary>;

export const WORKFLOW_LIST = coreAnswer<WorkflowListResponse>()('a workflow list', object({ workflows: arrayOf(workflowSummary) }));
export const WORKFLOW = coreAnswer<WorkflowSummaryView>()('a workflow', workflowSummary);

const statsRow = object({
  name: string,
  version: string,
  runs: recordOf(number),
  total: number,
  success_rate: nullable(number),
  p50_ms: nullable(number),
  p95_ms: nullable(number),
  slowest_step: nullable(object({ step_id: string, p95_ms: number })),
  retries: number,
  last_failure: nullable(object({ run_id: string, at: string, error: string })),
});
export const WORKFLOW_STATS = coreAnswer<WorkflowStatsResponse>()('workflow statistics', object({ window: string, since: string, workflows: arrayOf(statsRow) }));

/** A finding as `file:line:col: severity code message (at /pointer)` prints it. */
const finding = object({ severity: string, code: string, message: string, path: string, file: optional(string), line: optional(number), column: optional(number) });

const pluginReload = object({
  loaded: arrayOf(object({ name: string, version: string, file: string, previous: optional(string) })),
  failed: arrayOf(object({ file: string, name: nullable(string), error: string, kept: nullable(string) })),
  removed: arrayOf(object({ name: string, file: string })),
});

const loadReport = object({
  registered: arrayOf(object({ workflow: string, version: string, file: optional(string) })),
  unchanged: number,
  refused: arrayOf(object({ file: string, findings: arrayOf(finding) })),
  // Absent from executors that predate them.
  kept: optional(arrayOf(object({ file: string, workflow: string, version: string }))),
  lifecycle: optional(
    arrayOf(object({ workflow: string, version: string, file: optional(string), deprecated: boolean, retired: boolean, was: object({ deprecated: boolean, retired: boolean }) })),
  ),
  findings: arrayOf(finding),
  plugins: optional(pluginReload),
});
export type LoadReport = Shape<typeof loadReport>;
export const LOAD_REPORT = coreAnswer<WorkflowLoadReport & { plugins?: PluginReloadReport }>()('a reload report', loadReport);

// A version's manifest (normalised, as the executor registered it): what printManifest and indexSteps read.
const workflowRef = object({ name: string, range: string });
const steps: Check<unknown[]> = lazy(() => arrayOf(step));
const stepsByKind: Record<string, Check<unknown>> = {
  action: object({ action: string }),
  workflow: object({ workflow: workflowRef }),
  sleep: object({ duration_ms: optional(number), until: optional(string), for: optional(string) }),
  approval: object({ signal: string, timeout_ms: optional(number), on_timeout: string }),
  foreach: object({
    body: (v, at) => {
      const { kind } = object({ kind: oneOf('action', 'workflow', 'group') })(v, at);
      return object(kind === 'action' ? { action: string } : kind === 'workflow' ? { workflow: workflowRef } : { steps })(v, at);
    },
  }),
  parallel: object({ branches: steps, join: string }),
  switch: object({ cases: arrayOf(object({ steps })), default: optional(steps) }),
  group: object({ steps }),
};
const step: Check<unknown> = (v, at) => {
  const { kind } = object({ id: string, kind: oneOf('action', 'workflow', 'sleep', 'approval', 'foreach', 'parallel', 'switch', 'group'), if: optional(string) })(v, at);
  return stepsByKind[kind](v, at);
};
const manifest = object({
  name: string,
  version: string,
  description: optional(string),
  owner: optional(string),
  deprecated: boolean,
  retired: boolean,
  // Whether the version is in the workflows directory (one that is not starts no new run); absent from a Core before it.
  present: optional(boolean),
  timeout_ms: optional(number),
  triggers: arrayOf(object({ event: string })),
  security: object({ actions: arrayOf(string), http_hosts: arrayOf(string), secrets: arrayOf(string) }),
  tests: arrayOf(anything),
  steps,
  on_failure: optional(object({ steps: optional(steps) })),
});
/** Every field the manifest view reads is checked above, the step tree through: the rest is the manifest as registered. */
export const WORKFLOW_VERSION: Answer<WorkflowManifest & { present?: boolean }> = {
  what: 'a workflow version',
  check: (v, at) => manifest(v, at) as unknown as WorkflowManifest & { present?: boolean },
};

// ---------------------------------------------------------------------------------------------------------------
// Runs

const runError = nullable(object({ code: string, message: string }));

const runSummaryFields = {
  run_id: string,
  workflow: string,
  version: string,
  status: string,
  user_id: nullable(string),
  product: nullable(string),
  trace_id: string,
  parent_run_id: nullable(string),
  created_at: string,
  completed_at: nullable(string),
  duration_ms: nullable(number),
  error: runError,
};
const runSummary = object(runSummaryFields);
export type RunSummary = Shape<typeof runSummary>;

const runView = object({
  ...runSummaryFields,
  actor: nullable(string),
  cancel_requested: boolean,
  // What its start was warned of (a deprecated version, migrated inputs); absent from an executor before it was shown.
  warnings: optional(arrayOf(string)),
  steps: arrayOf(object({ path: string, kind: string, status: string, attempts: arrayOf(anything), duration_ms: nullable(number), error: runError })),
  children: arrayOf(runSummary),
});
/** A run as Core's own record tells it (not received by the executor, refused, cancelled before it started). */
const runRecord = object({ ...runSummaryFields, delivery: string, reason: nullable(string) });
export type RunDetail = Shape<typeof runView>;
export type RunRecord = Shape<typeof runRecord>;

export const RUN_LIST = coreAnswer<RunListResponse>()('a run list', object({ runs: arrayOf(runSummary), next_cursor: optional(nullable(string)) }));
/** `GET /runs/<id>`: the executor's view of the run (with its steps), or Core's own record of it. */
export const RUN = coreAnswer<RunView | RunRequestView>()('a run', (v, at): RunDetail | RunRecord =>
  object({ steps: anything })(v, at).steps !== undefined ? runView(v, at) : runRecord(v, at),
);
export const RUN_SUMMARY = coreAnswer<RunSummaryView>()('a run', runSummary);
export const SIGNAL_SENT = coreAnswer<{ signal_id: string; run: RunSummaryView }>()('a signal receipt', object({ signal_id: string, run: runSummary }));

// ---------------------------------------------------------------------------------------------------------------
// Plugins

const pluginFields = {
  name: string,
  version: string,
  source: string,
  status: string,
  description: nullable(string),
  error: nullable(string),
  reload_error: optional(nullable(string)),
};
export const PLUGIN_LIST = coreAnswer<PluginListResponse>()('a plugin list', object({ plugins: arrayOf(object(pluginFields)) }));
export const PLUGIN = coreAnswer<PluginDetailView>()(
  'a plugin',
  object({
    ...pluginFields,
    file: nullable(string),
    retryable_codes: arrayOf(string),
    secrets: arrayOf(string),
    loaded_at: optional(nullable(string)),
    workers: optional(nullable(object({ alive: number, warm: number, busy: number, started: number, reused: number }))),
    input_schema: anything,
    output_schema: anything,
  }),
);

// ---------------------------------------------------------------------------------------------------------------
// Events: drawn from the shape of the answer (a field the router adds shows without a CLI release), so the checks
// hold what makes it the router's answer and what each view lists by.

export const EVENT_STATS = coreAnswer<EventStats>()(
  'event statistics',
  object({ since: string, received: number, matched: number, runs_started: number, skipped: recordOf(number) }),
);
export const EVENT_LIST = coreAnswer<EventListResponse>()(
  'an event list',
  object({ events: arrayOf(object({ event_id: string, type: string })), next_cursor: optional(nullable(string)) }),
);
export const EVENT = coreAnswer<EventView>()('an event', object({ event_id: string, type: string, decisions: arrayOf(object({ workflow: string, outcome: string })) }));
export const EVENT_ACCEPTED = coreAnswer<EventAccepted>()(
  'an event receipt',
  object({ event_id: string, trace_id: string, runs: arrayOf(object({ workflow: string })), skipped: arrayOf(object({ workflow: string })) }),
);

// ---------------------------------------------------------------------------------------------------------------
// Tasks

const taskAccepted = object({ task_id: string, trace_id: string, decision: string, status: string, run_id: optional(string), workflow: optional(string) });
export type TaskAccepted = Shape<typeof taskAccepted>;
const tasksAccepted = object({ tasks: arrayOf(taskAccepted) });

/** `POST /handle_tasks`: one answer per task sent, in order. */
export function tasksAcceptedFor(sent: number): Answer<Shape<typeof tasksAccepted>> {
  return coreAnswer<HandleTasksAccepted>()(`an answer for ${sent} task${sent === 1 ? '' : 's'}`, (v, at) => {
    const answer = tasksAccepted(v, at);
    if (answer.tasks.length !== sent) throw new ShapeMismatch('tasks', `${sent} item${sent === 1 ? '' : 's'}, one per task sent, got ${answer.tasks.length}`);
    return answer;
  });
}
