import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import type { EnqueueInput } from '@pancha/outbox';
import type { RoleChange } from '../engine/karma-engine';

/**
 * The outbox message that tells Core's event router a user's derived role changed (`karma.role_changed`, typed in
 * events/pillars.yaml), enqueued in the transaction that stores the change as the user's last published role: the
 * transaction that writes the ledger entry of the event causing or finding it, or a sweep's. Its id (RoleChange.id,
 * from roleChangeId) is a function of the ledger, so a redelivery is the same event (Core starts nothing twice) and
 * each change is one event: the ledger seq of the event's first entry; suffixed `:time` for a change time made that
 * the event found, published just before the event's own; `:time:<ms>` for one the sweep found at that moment.
 */
export function roleChangedMessage(change: RoleChange): EnqueueInput {
  const at = new Date(change.at).toISOString();
  const body: PublishEventRequest = {
    id: change.id,
    type: 'karma.role_changed',
    source: 'karma',
    subject: change.userId,
    time: at,
    data: {
      user_id: change.userId,
      role: change.to,
      previous_role: change.from,
      cause: change.cause,
      net_karma: change.netKarma,
      merit: change.merit,
      ledger_seq: change.ledgerSeq,
      ...(change.eventId === null ? {} : { karma_event_id: change.eventId }),
      at,
    },
  };
  // One user's changes are delivered in the order they were recorded (a `time` change before the event's own, a
  // sweep's between events), so a subscriber sees each previous_role as the role before it even when a delivery is retried.
  return { topic: EventTopic.CoreKarmaEvent, messageKey: change.id, orderingKey: `karma:role:${change.userId}`, payload: body };
}
