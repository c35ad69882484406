import { createHash } from 'node:crypto';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ActionType, ExecutorErrorCode, MessageStatus, type WorkflowPayload } from '@pancha/contracts';
import { createTransport, type Transporter } from 'nodemailer';
import { CAPTURED_RESULT, captureMessage } from '../capture-outbox/message-capture';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { type ActionAdapter, type ActionContext, type ActionOutcome, failure, type ParseResult, textField, timeoutFailure } from './action-adapter';
import { describeProviderError } from './provider-error';

export interface EmailInput {
  recipient: string;
  subject: string;
  body: string;
}

/** Sends over SMTP when SMTP_URL is set; otherwise keeps the message in the capture outbox (status "CAPTURED", transport "capture"). */
@Injectable()
export class EmailAdapter implements ActionAdapter<EmailInput>, OnApplicationShutdown {
  readonly actionType = ActionType.Email;
  private readonly logger = new Logger(EmailAdapter.name);
  private readonly transporter?: Transporter;

  constructor(private readonly config: WorkflowExecutorConfig) {
    if (config.SMTP_URL) {
      const timeout = config.ADAPTER_TIMEOUT_MS;
      this.transporter = createTransport({
        url: config.SMTP_URL,
        // nodemailer cannot be aborted; its own timeouts make it give up about when we stop waiting.
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
        dnsTimeout: timeout,
      } as Parameters<typeof createTransport>[0]);
    }
  }

  parse(payload: WorkflowPayload): ParseResult<EmailInput> {
    const recipient = textField(payload, 'recipient')?.trim();
    if (!recipient) return { ok: false, failure: failure(ExecutorErrorCode.MissingRecipient, 'payload.recipient is required for action_type "email"') };
    const subject = textField(payload, 'subject');
    if (!subject) return { ok: false, failure: failure(ExecutorErrorCode.MissingSubject, 'payload.subject is required for action_type "email"') };
    const body = textField(payload, 'body');
    if (!body) return { ok: false, failure: failure(ExecutorErrorCode.MissingBody, 'payload.body is required for action_type "email"') };
    return { ok: true, input: { recipient, subject, body } };
  }

  async execute(input: EmailInput, context: ActionContext): Promise<ActionOutcome> {
    if (!this.transporter) {
      const captured = captureMessage({
        channel: 'email',
        ...input,
        traceId: context.traceId,
        product: context.product ?? null,
        idempotencyKey: context.idempotencyKey,
      });
      return {
        success: true,
        result: { message_id: captured.id, ...CAPTURED_RESULT },
        rows: [captured.row],
      };
    }
    try {
      const info = (await this.transporter.sendMail({
        from: this.config.EMAIL_FROM,
        to: input.recipient,
        subject: input.subject,
        text: input.body,
        // A stable Message-ID per workflow step: a repeated attempt is the same message to every receiver.
        ...(context.idempotencyKey ? { messageId: messageIdFor(context.idempotencyKey) } : {}),
        headers: { 'X-Pancha-Trace-Id': context.traceId },
      })) as { messageId: string; rejected?: unknown[] };
      if (Array.isArray(info.rejected) && info.rejected.length > 0) {
        return failure(ExecutorErrorCode.AdapterExecutionFailed, 'smtp server rejected the recipient');
      }
      return { success: true, result: { message_id: info.messageId, status: MessageStatus.Sent, transport: 'smtp' } };
    } catch (error) {
      if (context.signal.aborted) return timeoutFailure(context.timeoutMs);
      const message = describeProviderError('smtp server', error);
      this.logger.warn({ msg: 'email not sent', workflow_trace_id: context.traceId, reason: message });
      return failure(ExecutorErrorCode.AdapterExecutionFailed, message);
    }
  }

  onApplicationShutdown(): void {
    this.transporter?.close();
  }
}

/** RFC 5322 Message-ID derived from a workflow step's idempotency key. */
export function messageIdFor(idempotencyKey: string): string {
  return `<${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}@pancha.workflow>`;
}
