import { Injectable, Logger } from '@nestjs/common';
import { ActionType, ExecutorErrorCode, isActionType, type WorkflowPayload } from '@pancha/contracts';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { type ActionAdapter, type ActionContext, type ActionFailure, type ActionOutcome, failure, timeoutFailure } from './action-adapter';
import { AiAdapter } from './ai.adapter';
import { EmailAdapter } from './email.adapter';
import { TaskAdapter } from './task.adapter';
import { WhatsappAdapter } from './whatsapp.adapter';

export type ActionTypeResolution = { ok: true; actionType: ActionType } | { ok: false; failure: ActionFailure };

/** action_type → ActionType; a missing or unknown one is an execution failure, not a schema error. */
export function resolveActionType(raw: unknown): ActionTypeResolution {
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { ok: false, failure: failure(ExecutorErrorCode.MissingActionType, 'payload.action_type is required') };
  }
  const normalized = raw.trim().toLowerCase();
  if (!isActionType(normalized)) {
    return {
      ok: false,
      failure: failure(
        ExecutorErrorCode.UnsupportedActionType,
        `action_type "${raw.slice(0, 64)}" is not supported (supported: ${Object.values(ActionType).join(', ')})`,
      ),
    };
  }
  return { ok: true, actionType: normalized };
}

export type ActionRunContext = Omit<ActionContext, 'signal' | 'timeoutMs'>;

/** Picks the one adapter for an action type, checks its fields and runs it under ADAPTER_TIMEOUT_MS. */
@Injectable()
export class ActionRunner {
  private readonly logger = new Logger(ActionRunner.name);

  constructor(
    private readonly config: WorkflowExecutorConfig,
    private readonly task: TaskAdapter,
    private readonly email: EmailAdapter,
    private readonly whatsapp: WhatsappAdapter,
    private readonly ai: AiAdapter,
  ) {}

  async run(payload: WorkflowPayload, context: ActionRunContext): Promise<ActionOutcome> {
    const resolved = resolveActionType(payload.action_type);
    if (!resolved.ok) return resolved.failure;
    switch (resolved.actionType) {
      case ActionType.Task:
        return this.runAdapter(this.task, payload, context);
      case ActionType.Email:
        return this.runAdapter(this.email, payload, context);
      case ActionType.Whatsapp:
        return this.runAdapter(this.whatsapp, payload, context);
      case ActionType.Ai:
        return this.runAdapter(this.ai, payload, context);
      default:
        return assertUnreachable(resolved.actionType);
    }
  }

  private async runAdapter<I>(adapter: ActionAdapter<I>, payload: WorkflowPayload, context: ActionRunContext): Promise<ActionOutcome> {
    const parsed = adapter.parse(payload);
    if (!parsed.ok) return parsed.failure;
    const timeoutMs = this.config.ADAPTER_TIMEOUT_MS;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<ActionOutcome>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve(timeoutFailure(timeoutMs));
      }, timeoutMs);
    });
    const executed = adapter
      .execute(parsed.input, { ...context, signal: controller.signal, timeoutMs })
      .catch((error: unknown): ActionOutcome => {
        // Adapters turn provider errors into failures themselves; reaching here is a bug, and the caller still gets an answer.
        this.logger.error({ msg: 'adapter threw', action_type: adapter.actionType, workflow_trace_id: context.traceId, error: (error as Error)?.message });
        return failure(ExecutorErrorCode.AdapterExecutionFailed, `${adapter.actionType} adapter failed unexpectedly`);
      });
    try {
      return await Promise.race([executed, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function assertUnreachable(value: never): never {
  throw new Error(`Unhandled action type: ${String(value)}`);
}
