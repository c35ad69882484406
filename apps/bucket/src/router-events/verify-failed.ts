import { EventTopic, type AuditVerifyResult, type PublishEventRequest } from '@pancha/contracts';
import type { EnqueueInput } from '@pancha/outbox';

/**
 * The outbox message that tells Core's event router the verifier found a bad entry (`audit.verify_failed`, typed in
 * events/pillars.yaml). One event per finding: its id is the first bad seq and the fault, so every later run that
 * finds the same fault enqueues the same message (the outbox keeps the first) and Core, seeing the id again,
 * starts nothing twice. A different fault, or the same one at another seq, is a new event.
 */
export function verifyFailedMessage(result: AuditVerifyResult, full: boolean, at: Date): EnqueueInput | undefined {
  if (result.ok || result.first_bad_seq === undefined) return undefined;
  const reason = result.reason ?? 'unknown';
  const id = `bucket:verify_failed:${result.first_bad_seq}:${reason}`;
  const body: PublishEventRequest = {
    id,
    type: 'audit.verify_failed',
    source: 'bucket',
    subject: `seq:${result.first_bad_seq}`,
    time: at.toISOString(),
    data: {
      seq: result.first_bad_seq,
      reason,
      // Entries (checked_from, checked_to] were re-hashed; 1..checked_from were only anchored (incremental run).
      checked_from: result.verified_from ?? 0,
      checked_to: result.size,
      full,
      head_hash: result.head_hash,
      at: at.toISOString(),
    },
  };
  return { topic: EventTopic.CoreBucketEvent, messageKey: id, payload: body };
}
