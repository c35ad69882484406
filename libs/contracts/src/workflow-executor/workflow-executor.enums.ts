/** What Core decided for a request; only `workflow` makes the executor act (SPEC §2 "Executor"). */
export enum Decision {
  Respond = 'respond',
  Task = 'task',
  Workflow = 'workflow',
  Insight = 'insight',
  Fallback = 'fallback',
}

/** One action type, one adapter. */
export enum ActionType {
  Task = 'task',
  Email = 'email',
  Whatsapp = 'whatsapp',
  Ai = 'ai',
}

export const ACTION_TYPES: readonly ActionType[] = Object.values(ActionType);

export function isActionType(value: unknown): value is ActionType {
  return typeof value === 'string' && (ACTION_TYPES as readonly string[]).includes(value);
}

/** `execution_result.error_code` of a failed execution: exactly the SPEC's list, so clients of the original keep working. */
export enum ExecutorErrorCode {
  MissingActionType = 'missing_action_type',
  UnsupportedActionType = 'unsupported_action_type',
  MissingRecipient = 'missing_recipient',
  MissingMessage = 'missing_message',
  MissingSubject = 'missing_subject',
  MissingBody = 'missing_body',
  MissingPrompt = 'missing_prompt',
  MissingTaskTitle = 'missing_task_title',
  AdapterTimeout = 'adapter_timeout',
  AdapterExecutionFailed = 'adapter_execution_failed',
  ProviderNotConfigured = 'provider_not_configured',
}

/** `reason` of the two replies that carry no execution_result. */
export enum ExecuteReason {
  DecisionNotWorkflow = 'decision_not_workflow',
  MissingWorkflowPayload = 'missing_workflow_payload',
}

/** `code` of API errors (the `{ code, message, trace_id }` body) specific to the executor. */
export enum ExecutorApiErrorCode {
  /** The same trace_id is executing right now; retry later (Core's outbox does). HTTP 409. */
  ExecutionInProgress = 'execution_in_progress',
}

/** Where a message went: a provider (smtp, whatsapp_cloud_api), or the local capture outbox when none is configured. */
export type MessageTransport = 'smtp' | 'capture' | 'whatsapp_cloud_api';

/**
 * `status` of an email or whatsapp result. SENT only when a provider accepted the message; CAPTURED when it
 * was kept in the capture outbox (transport "capture") and reached nobody.
 */
export enum MessageStatus {
  Sent = 'SENT',
  Captured = 'CAPTURED',
}

export type MessageChannel = 'email' | 'whatsapp';
