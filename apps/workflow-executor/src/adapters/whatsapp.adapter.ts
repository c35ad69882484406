import { Injectable, Logger } from '@nestjs/common';
import { ActionType, ExecutorErrorCode, MessageStatus, type WorkflowPayload } from '@pancha/contracts';
import axios from 'axios';
import { CAPTURED_RESULT, captureMessage } from '../capture-outbox/message-capture';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { type ActionAdapter, type ActionContext, type ActionOutcome, failure, type ParseResult, textField, timeoutFailure } from './action-adapter';
import { describeProviderError } from './provider-error';

export interface WhatsappInput {
  recipient: string;
  message: string;
}

interface CloudApiReply {
  messages?: { id?: unknown }[];
}

/**
 * Sends a text message through the WhatsApp Cloud API when WHATSAPP_PHONE_NUMBER_ID and
 * WHATSAPP_ACCESS_TOKEN are set; otherwise keeps it in the capture outbox (status "CAPTURED", transport "capture").
 */
@Injectable()
export class WhatsappAdapter implements ActionAdapter<WhatsappInput> {
  readonly actionType = ActionType.Whatsapp;
  private readonly logger = new Logger(WhatsappAdapter.name);

  constructor(private readonly config: WorkflowExecutorConfig) {}

  parse(payload: WorkflowPayload): ParseResult<WhatsappInput> {
    // `phone` is the design note's name for the recipient (the original integration sends it); recipient wins when both are given.
    const recipient = (textField(payload, 'recipient') ?? textField(payload, 'phone'))?.trim();
    if (!recipient) {
      return { ok: false, failure: failure(ExecutorErrorCode.MissingRecipient, 'payload.recipient (or payload.phone) is required for action_type "whatsapp"') };
    }
    const message = textField(payload, 'message');
    if (!message) return { ok: false, failure: failure(ExecutorErrorCode.MissingMessage, 'payload.message is required for action_type "whatsapp"') };
    return { ok: true, input: { recipient, message } };
  }

  async execute(input: WhatsappInput, context: ActionContext): Promise<ActionOutcome> {
    if (!this.config.whatsappConfigured) {
      const captured = captureMessage({
        channel: 'whatsapp',
        recipient: input.recipient,
        subject: null,
        body: input.message,
        traceId: context.traceId,
        idempotencyKey: context.idempotencyKey,
        product: context.product ?? null,
      });
      return {
        success: true,
        result: { whatsapp_message_id: captured.id, ...CAPTURED_RESULT },
        rows: [captured.row],
      };
    }
    const base = this.config.WHATSAPP_API_BASE_URL.replace(/\/+$/, '');
    const url = `${base}/${encodeURIComponent(this.config.WHATSAPP_PHONE_NUMBER_ID as string)}/messages`;
    try {
      const res = await axios.post<CloudApiReply>(
        url,
        { messaging_product: 'whatsapp', to: input.recipient, type: 'text', text: { body: input.message } },
        {
          headers: {
            authorization: `Bearer ${this.config.WHATSAPP_ACCESS_TOKEN}`,
            'content-type': 'application/json',
            // The Cloud API has no idempotency of its own today; a proxy or gateway in front of it may use this.
            ...(context.idempotencyKey ? { 'idempotency-key': context.idempotencyKey } : {}),
          },
          signal: context.signal,
        },
      );
      const id = res.data?.messages?.[0]?.id;
      if (typeof id !== 'string' || id === '') {
        return failure(ExecutorErrorCode.AdapterExecutionFailed, 'whatsapp provider accepted the request but returned no message id');
      }
      return { success: true, result: { whatsapp_message_id: id, status: MessageStatus.Sent, transport: 'whatsapp_cloud_api' } };
    } catch (error) {
      if (context.signal.aborted) return timeoutFailure(context.timeoutMs);
      const message = describeProviderError('whatsapp provider', error);
      this.logger.warn({ msg: 'whatsapp message not sent', workflow_trace_id: context.traceId, reason: message });
      return failure(ExecutorErrorCode.AdapterExecutionFailed, message);
    }
  }
}
