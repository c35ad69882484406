import { HttpException } from '@nestjs/common';
import { isRetryableStatus } from '@pancha/http-client';
import { isDatabaseUnavailableError } from '@pancha/service-kit';

/** What becomes of a consumed message: acknowledged, tried again later, or rejected for good (dead letter). */
export type MessageDisposition = { action: 'ack' } | { action: 'retry'; reason: string } | { action: 'reject'; reason: string };

/** Thrown by a consumer to reject a message that can never succeed (it goes to the dead-letter subject). */
export class JetStreamRejection extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'JetStreamRejection';
  }
}

/**
 * The same verdicts the HTTP outbox handlers reach from status codes: a 4xx the handler would answer
 * (422 validation, 403 policy or requester mismatch, 409 conflict) will never succeed, so it is rejected;
 * a database outage, a 5xx/429/408 or anything unexpected may succeed later, so it is retried.
 */
export function dispositionForError(error: unknown): MessageDisposition {
  if (error instanceof JetStreamRejection) return { action: 'reject', reason: error.reason };
  if (error instanceof HttpException) return dispositionForStatus(error.getStatus(), error.getResponse(), error.message);
  if (isDatabaseUnavailableError(error)) return { action: 'retry', reason: `database unavailable: ${messageOf(error)}` };
  return { action: 'retry', reason: `unexpected: ${messageOf(error)}` };
}

/**
 * The verdict on an answer's status and body (an HttpException's, or one event's outcome in a batch): a 4xx other
 * than 408/425/429 is rejected, anything else retried; the reason reads `<status> <code>: <message>`, the message
 * falling back to `fallback` when the body has none.
 */
export function dispositionForStatus(status: number, body: unknown, fallback: string): MessageDisposition {
  const reason = `${status} ${describeBody(body, fallback)}`;
  return isRetryableStatus(status) ? { action: 'retry', reason } : { action: 'reject', reason };
}

function describeBody(body: unknown, fallback: string): string {
  if (typeof body === 'object' && body !== null) {
    const { code, message } = body as { code?: unknown; message?: unknown };
    const text = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : fallback;
    return typeof code === 'string' ? `${code}: ${text}` : text;
  }
  return String(body);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
