/** Wire shapes the console reads (mirrors of @pancha/contracts' views, kept DOM-side without class-validator). */

export interface RunErrorView {
  code: string;
  message: string;
  retryable: boolean;
}

export interface RunSummaryView {
  run_id: string;
  workflow: string;
  version: string;
  status: string;
  user_id: string | null;
  product: string | null;
  trace_id: string;
  parent_run_id: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  error: RunErrorView | null;
}

export interface StepAttemptView {
  attempt: number;
  status: string;
  started_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  error: RunErrorView | null;
}

export interface RunStepView {
  path: string;
  step_id: string;
  kind: string;
  status: string;
  attempts: StepAttemptView[];
  input: unknown;
  output: unknown;
  error: RunErrorView | null;
  child_run_id: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
}

export interface RunView extends RunSummaryView {
  inputs: Record<string, unknown>;
  output: unknown;
  actor: string | null;
  cancel_requested: boolean;
  steps: RunStepView[];
  signals: { name: string; received_at: string; consumed_by: string | null; sender: string }[];
  children: RunSummaryView[];
}

export interface RunListResponse {
  runs: RunSummaryView[];
  next_cursor: string | null;
}

export interface WorkflowVersionView {
  version: string;
  registered_at: string;
  present: boolean;
  deprecated: boolean;
  retired: boolean;
  description: string | null;
  live_runs: number;
}

export interface WorkflowSummaryView {
  name: string;
  enabled: boolean;
  default_version: string | null;
  description: string | null;
  versions: WorkflowVersionView[];
  setting: { enabled: boolean; updated_by: string; updated_at: string; reason: string | null } | null;
}

export interface WorkflowListResponse {
  workflows: WorkflowSummaryView[];
  revision: string;
}

export interface BucketEntry {
  seq: number;
  event_id: string;
  requester_id: string;
  channel: string;
  event_type: string;
  trace_id: string | null;
  product: string | null;
  user_id: string | null;
  event_data: unknown;
  content_hash: string;
  prev_hash: string;
  hash: string;
  created_at: string;
}

export interface EventsPage {
  events: BucketEntry[];
  next_after_seq: number | null;
}

export interface KarmaProfile {
  user_id: string;
  as_of: string;
  balances: Record<string, number>;
  merit: number;
  paap: Record<string, number>;
  paap_weighted: number;
  net_karma: number;
  role: string;
  predicted_next_role: string;
  recommended_action: string | null;
  q_values: Record<string, number>;
}
