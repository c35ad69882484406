import { Injectable, Logger } from '@nestjs/common';
import { ActionType, ExecutorErrorCode, type WorkflowPayload } from '@pancha/contracts';
import axios from 'axios';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { type ActionAdapter, type ActionContext, type ActionOutcome, failure, type ParseResult, textField, timeoutFailure } from './action-adapter';
import { describeProviderError } from './provider-error';

export interface AiInput {
  prompt: string;
}

interface ChatCompletionReply {
  id?: unknown;
  model?: unknown;
  choices?: { message?: { content?: unknown } }[];
}

/**
 * One chat completion from an OpenAI-compatible API (AI_BASE_URL + /chat/completions). The answer is
 * returned as data only: AI output never becomes an instruction the executor acts on (SPEC T6).
 */
@Injectable()
export class AiAdapter implements ActionAdapter<AiInput> {
  readonly actionType = ActionType.Ai;
  private readonly logger = new Logger(AiAdapter.name);

  constructor(private readonly config: WorkflowExecutorConfig) {}

  parse(payload: WorkflowPayload): ParseResult<AiInput> {
    const prompt = textField(payload, 'prompt');
    if (!prompt) return { ok: false, failure: failure(ExecutorErrorCode.MissingPrompt, 'payload.prompt is required for action_type "ai"') };
    return { ok: true, input: { prompt } };
  }

  async execute(input: AiInput, context: ActionContext): Promise<ActionOutcome> {
    if (!this.config.AI_BASE_URL || !this.config.AI_MODEL) {
      return failure(ExecutorErrorCode.ProviderNotConfigured, 'no AI provider is configured (set AI_BASE_URL and AI_MODEL)');
    }
    const url = `${this.config.AI_BASE_URL.replace(/\/+$/, '')}/chat/completions`;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.config.AI_API_KEY) headers.authorization = `Bearer ${this.config.AI_API_KEY}`;
    // OpenAI-compatible providers that honour it answer a repeated attempt without a second completion.
    if (context.idempotencyKey) headers['idempotency-key'] = context.idempotencyKey;
    try {
      const res = await axios.post<ChatCompletionReply>(
        url,
        { model: this.config.AI_MODEL, messages: [{ role: 'user', content: input.prompt }] },
        { headers, signal: context.signal },
      );
      const content = res.data?.choices?.[0]?.message?.content;
      if (typeof content !== 'string') {
        return failure(ExecutorErrorCode.AdapterExecutionFailed, 'ai provider returned no completion');
      }
      return {
        success: true,
        result: {
          request_id: typeof res.data.id === 'string' ? res.data.id : null,
          response: content,
          model: typeof res.data.model === 'string' ? res.data.model : this.config.AI_MODEL,
        },
      };
    } catch (error) {
      if (context.signal.aborted) return timeoutFailure(context.timeoutMs);
      const message = describeProviderError('ai provider', error);
      this.logger.warn({ msg: 'ai completion failed', workflow_trace_id: context.traceId, reason: message });
      return failure(ExecutorErrorCode.AdapterExecutionFailed, message);
    }
  }
}
