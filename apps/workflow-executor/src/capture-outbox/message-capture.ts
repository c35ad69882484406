import { type MessageChannel, MessageStatus } from '@pancha/contracts';
import { randomUUID } from 'node:crypto';
import { type ActionRow, actionRow } from '../adapters/action-rows';
import { CapturedMessageEntity } from './captured-message.entity';

/** What a captured message's result says of it: kept here, reached nobody (never "SENT"). */
export const CAPTURED_RESULT = { status: MessageStatus.Captured, transport: 'capture' } as const;

/** Prepares a captured (undelivered) message: its id now, its row in the execution's result transaction. */
export function captureMessage(message: {
  channel: MessageChannel;
  recipient: string;
  subject: string | null;
  body: string;
  traceId: string;
  product: string | null;
  /** A workflow step's key: unique, so a repeated attempt captures no second message. */
  idempotencyKey?: string;
}): { id: string; row: ActionRow } {
  const id = randomUUID();
  const { idempotencyKey, ...fields } = message;
  return { id, row: actionRow(CapturedMessageEntity, { id, ...fields, idempotencyKey: idempotencyKey ?? null, createdAt: new Date() }) };
}
