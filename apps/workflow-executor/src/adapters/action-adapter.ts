import { type ActionType, ExecutorErrorCode, type WorkflowPayload } from '@pancha/contracts';
import type { ActionRow } from './action-rows';

/** What every adapter knows about the execution it is part of. */
export interface ActionContext {
  /** payload.trace_id, or the request's trace_id when the payload has none. */
  traceId: string;
  userId?: string;
  product?: string;
  /** Aborted when ADAPTER_TIMEOUT_MS passes; adapters hand it to their network calls. */
  signal: AbortSignal;
  timeoutMs: number;
  /**
   * The same for every attempt of one workflow step (`<run_id>:<step path>`); adapters hand it to their
   * provider (a unique key on rows, SMTP Message-ID, an Idempotency-Key header) so a repeat has no second effect.
   */
  idempotencyKey?: string;
}

export interface ActionFailure {
  success: false;
  error_code: ExecutorErrorCode;
  message: string;
  /** Whether trying again could succeed, when the adapter knows better than its error code says (a provider's 4xx). */
  retryable?: boolean;
}

export interface ActionSuccess {
  success: true;
  result: Record<string, unknown>;
  /**
   * Rows the action consists of (a task, a captured message). Written in the transaction that records the
   * execution's result, so the two can never disagree (`insertActionRows`).
   */
  rows?: readonly ActionRow[];
}

export type ActionOutcome = ActionSuccess | ActionFailure;

export type ParseResult<I> = { ok: true; input: I } | { ok: false; failure: ActionFailure };

/** One action type, one adapter: `parse` checks the payload's fields, `execute` performs the real action. */
export interface ActionAdapter<I = unknown> {
  readonly actionType: ActionType;
  /**
   * True when the action's whole effect is the rows it answers (nothing leaves the process): the engine may then
   * perform it inside the round that starts it and write its start and its end together (see ExecutorAction.local).
   */
  readonly local?: boolean;
  parse(payload: WorkflowPayload): ParseResult<I>;
  execute(input: I, context: ActionContext): Promise<ActionOutcome>;
}

export function failure(error_code: ExecutorErrorCode, message: string): ActionFailure {
  return { success: false, error_code, message };
}

/** A field is present when it is a string with something other than whitespace in it. */
export function textField(payload: WorkflowPayload, field: string): string | undefined {
  const value = payload[field];
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

export function optionalTextField(payload: WorkflowPayload, field: string): string | null {
  return textField(payload, field) ?? null;
}

export function timeoutFailure(timeoutMs: number): ActionFailure {
  return failure(ExecutorErrorCode.AdapterTimeout, `the action did not complete within ${timeoutMs} ms`);
}
