import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import type { EnqueueInput } from '@pancha/outbox';
import type { RoleChange } from '../engine/karma-engine';

/**
 * The outbox message that tells Core's event router a user's derived role changed (`karma.role_changed`, typed in
 * events/pillars.yaml). Enqueued in the transaction that writes the ledger entry causing the change; its id is the
 * ledger seq of that entry, so a redelivery is the same event (Core starts nothing twice) and each change is one event.
 */
export function roleChangedMessage(change: RoleChange): EnqueueInput {
  const id = `karma:role_changed:${change.ledgerSeq}`;
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
      net_karma: change.netKarma,
      merit: change.merit,
      ledger_seq: change.ledgerSeq,
      karma_event_id: change.eventId,
      at: new Date(change.at).toISOString(),
    },
  };
  return { topic: EventTopic.CoreKarmaEvent, messageKey: id, payload: body };
}
