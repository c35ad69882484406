import { EventTopic, type AuditVerifyResult, type PublishEventRequest } from '@pancha/contracts';
import type { EnqueueInput } from '@pancha/outbox';

/**
 * The outbox message that tells Core's event router the verifier found a bad entry (`audit.verify_failed`, typed in
 * events/pillars.yaml). One event per finding: its id is the first bad seq and the fault, and its content (type,
 * source, subject, data) is a function of that id alone, so every later run that finds the same fault builds the
 * same event. The outbox keeps the first message, and once that row is pruned the next run's is a replay Core
 * answers as such (Core refuses an id sent again with other content: 409 event_id_reused). What a run saw
 * (checked range, head hash, full or incremental, when) is not in the event: it is in that run's verify answer and
 * log. `time` is when this run found it; Core does not compare it. A different fault, or the same one at another
 * seq, is a new event. `_full` (whether the run walked from seq 1) is taken and left out for that reason.
 */
export function verifyFailedMessage(result: AuditVerifyResult, at: Date): EnqueueInput | undefined {
  if (result.ok || result.first_bad_seq === undefined) return undefined;
  const reason = result.reason ?? 'unknown';
  const id = `bucket:verify_failed:${result.first_bad_seq}:${reason}`;
  const body: PublishEventRequest = {
    id,
    type: 'audit.verify_failed',
    source: 'bucket',
    subject: `seq:${result.first_bad_seq}`,
    time: at.toISOString(),
    data: { seq: result.first_bad_seq, reason },
  };
  return { topic: EventTopic.CoreBucketEvent, messageKey: id, payload: body };
}
