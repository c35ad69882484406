import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import type { EnqueueInput } from '@pancha/outbox';
import type { RoleChange } from '../engine/karma-engine';

/**
 * The outbox message that tells Core's event router a user's derived role changed (`karma.role_changed`, typed in
 * events/pillars.yaml). Enqueued in the transaction that writes the ledger entry causing the change; its id is the
 * ledger seq of that entry, so a redelivery is the same event (Core starts nothing twice) and each change is one event.
 * A change the event found rather than caused (cause `time`: the role moved since the last published change with no
 * event in between) is published just before the event's own, with the id suffixed `:time`.
 */
export function roleChangedMessage(change: RoleChange): EnqueueInput {
  const id = `karma:role_changed:${change.ledgerSeq}${change.cause === 'time' ? ':time' : ''}`;
  const body: PublishEventRequest = {
    id,
    type: 'karma.role_changed',
    source: 'karma',
    subject: change.userId,
    time: new Date(change.at).toISOString(),
    data: {
      user_id: change.userId,
      role: change.to,
      previous_role: change.from,
      cause: change.cause,
      net_karma: change.netKarma,
      merit: change.merit,
      ledger_seq: change.ledgerSeq,
      karma_event_id: change.eventId,
      at: new Date(change.at).toISOString(),
    },
  };
  // One user's changes are delivered in the order they were recorded (a `time` change before the event's own), so a
  // subscriber sees each previous_role as the role before it even when a delivery is retried.
  return { topic: EventTopic.CoreKarmaEvent, messageKey: id, orderingKey: `karma:role:${change.userId}`, payload: body };
}
