/**
 * Operational views of workflows and plugins served by Core's public API and read by the `pancha` CLI and PRANA:
 * `GET /workflows/stats`, `GET /plugins`, `GET /plugins/<name>`.
 */

/** Per-workflow run statistics over a window (`GET /workflows/stats?window=24h[&name=]`). */
export interface WorkflowStats {
  name: string;
  version: string;
  /** Runs started in the window, by status (e.g. `succeeded`, `failed`, `cancelled`, `running`). */
  runs: Record<string, number>;
  total: number;
  /** Succeeded / ended runs in the window; null when no run ended. */
  success_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  slowest_step: { step_id: string; p95_ms: number } | null;
  retries: number;
  last_failure: { run_id: string; at: string; error: string } | null;
}

/** One time bucket of `series` (`GET /workflows/stats?bucket=hour|day`): the runs created in it. */
export interface WorkflowStatsPoint {
  /** Start of the bucket (ISO 8601, UTC). */
  at: string;
  /** Runs created in the bucket, by status. */
  runs: Record<string, number>;
  total: number;
  /** Durations (first start to end) of the bucket's runs that ended; null when none did. */
  p50_ms: number | null;
  p95_ms: number | null;
}

export type WorkflowStatsBucket = 'hour' | 'day';
export const WORKFLOW_STATS_BUCKETS: readonly WorkflowStatsBucket[] = ['hour', 'day'];

/**
 * `GET /workflows/stats` (Core) and `GET /api/workflows/stats` (the executor): `window` (a duration, default 24h),
 * `name` (one workflow), `bucket` (hour | day: the per-bucket series). Any other name is a 400 and a repeated one a
 * 422 on both: ignored, `?nme=x` would answer every workflow's figures as if they were x's.
 */
/** The longest window GET /workflows/stats answers (90 days); a longer one is a 400 `invalid_stats_window`. */
export const MAX_WORKFLOW_STATS_WINDOW_MS = 90 * 86_400_000;

export interface WorkflowStatsQuery {
  window?: string;
  name?: string;
  bucket?: string;
}
const WORKFLOW_STATS_QUERY_FIELDS: Record<keyof WorkflowStatsQuery, true> = { window: true, name: true, bucket: true };
export const WORKFLOW_STATS_QUERY_PARAMETERS: readonly string[] = Object.keys(WORKFLOW_STATS_QUERY_FIELDS);

export interface WorkflowStatsResponse {
  /** The window asked for, as given (e.g. `24h`). */
  window: string;
  /** Start of the window (ISO 8601). */
  since: string;
  workflows: WorkflowStats[];
  /**
   * With `bucket`: the window's runs (of `name`, or of every workflow) per UTC hour or day, only buckets with runs,
   * oldest first, aggregated in one statement (PRANA's per-workflow charts).
   */
  bucket?: WorkflowStatsBucket;
  series?: WorkflowStatsPoint[];
}

export type PluginSource = 'builtin' | 'directory' | 'package';
export type PluginStatus = 'loaded' | 'failed';

/** One action plugin as the executor loaded it (`GET /plugins`). */
export interface PluginView {
  name: string;
  version: string;
  source: PluginSource;
  status: PluginStatus;
  description: string | null;
  retryable_codes: string[];
  /** Names of the secrets the plugin declares (never their values). */
  secrets: string[];
  /** Why loading failed (status `failed`), else null. */
  error: string | null;
  /** Where the plugin was loaded from (directory plugins), else null. */
  file: string | null;
  /** When the version listed was loaded (plugins; null for built-ins). */
  loaded_at?: string | null;
  /**
   * The plugin's files changed but the new version did not load: why. The version listed keeps serving (status
   * `loaded`) until a valid one replaces it. Null when the files on disk are the version serving.
   */
  reload_error?: string | null;
  /** The plugin's warm worker pool (plugins that loaded): alive, parked warm, busy; started and reused since load. */
  workers?: { alive: number; warm: number; busy: number; started: number; reused: number } | null;
}

/** What one plugin reload did (`POST /api/plugins/reload`, the watcher, and `plugins` of a workflows reload). */
export interface PluginReloadReport {
  loaded_at: string;
  trigger: 'start' | 'request' | 'watch';
  /** New plugins, and new versions that replaced the one serving (`previous`). */
  loaded: { name: string; version: string; file: string; previous?: string }[];
  unchanged: number;
  /** Plugins that did not load. `kept`: the version named keeps serving (an invalid edit never replaces a valid one). */
  failed: { file: string; name: string | null; error: string; kept: string | null }[];
  /** Plugins whose files went away: no longer registered (running attempts finish). */
  removed: { name: string; file: string }[];
}

export interface PluginListResponse {
  plugins: PluginView[];
}

/** `GET /plugins/<name>`: the plugin with its input and output JSON Schemas. */
export type PluginDetailView = PluginView & {
  input_schema: Record<string, unknown> | null;
  output_schema: Record<string, unknown> | null;
};
