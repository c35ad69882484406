import type { ExecutorErrorCode, ExecuteReason, MessageChannel, MessageStatus } from './workflow-executor.enums';

/** The outcome of one action. Adapter-specific fields (task_id, message_id, response, …) sit beside `success`. */
export interface ExecutionResult {
  success: boolean;
  error_code?: ExecutorErrorCode;
  message?: string;
  [field: string]: unknown;
}

export type ExecutionStatus = 'success' | 'failed';

/** 200 reply of POST /api/workflow/execute when an action was executed (or its stored result replayed). */
export interface ExecutedWorkflowResponse {
  trace_id: string;
  status: ExecutionStatus;
  execution_result: ExecutionResult;
}

/** 200 reply when the decision was not `workflow`: nothing executed. */
export interface SkippedWorkflowResponse {
  trace_id: string;
  status: 'skipped';
  reason: ExecuteReason.DecisionNotWorkflow;
}

/** 400 reply when a workflow decision came without `data.payload`. */
export interface MissingPayloadResponse {
  trace_id: string;
  status: 'failed';
  reason: ExecuteReason.MissingWorkflowPayload;
}

export type ExecuteWorkflowResponse = ExecutedWorkflowResponse | SkippedWorkflowResponse;

/** A row of the executor's `tasks` table (GET /api/tasks). */
export interface TaskView {
  task_id: string;
  user_id: string | null;
  title: string;
  description: string | null;
  status: 'CREATED';
  trace_id: string;
  product: string | null;
  created_at: string;
}

export interface TaskListResponse {
  tasks: TaskView[];
}

/** A message kept by the local capture outbox because no provider was configured (GET /api/outbox). */
export interface CapturedMessageView {
  id: string;
  channel: MessageChannel;
  /** Always CAPTURED: the message reached nobody. */
  status: MessageStatus.Captured;
  transport: 'capture';
  recipient: string;
  subject: string | null;
  body: string;
  trace_id: string;
  /** The product of the workflow that produced it (payload.product); null when it named none. */
  product: string | null;
  created_at: string;
}

export interface CapturedMessageListResponse {
  messages: CapturedMessageView[];
}
