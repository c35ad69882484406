import { canonicalJson } from '@pancha/contracts';
import { nameBasedUuid } from '@pancha/service-kit';

/** Namespace of Bucket's derived event ids (fixed forever: changing it would split retries from originals). */
export const DERIVED_EVENT_ID_NAMESPACE = '6c1b9f8e-3d2a-4e57-9b0c-5f1e7a2d4c80';

/**
 * The idempotency key of a write that carries no event_id (the original clients never send one): an RFC 4122
 * version 5 (name-based) uuid of the requester and the canonical JSON of event_data, so the same requester
 * sending the same content again — a retry after a lost reply, in any key order — gets the same id and is
 * recorded once. The price: two genuinely separate events with identical content from the same requester are
 * one event; a producer that means "another event" sends its own event_id (or a timestamp in the content).
 *
 * `attempt` numbers the event's candidate ids. Anyone who can guess the content can compute the first one and write
 * under it first with an explicit event_id, so the ledger gives a derived event the first candidate that is free or
 * holds this very event (same requester, same content) and passes over those another entry holds
 * (LedgerService): candidate 0 is the id every earlier release derived, candidate k ≥ 1 appends `\n<k>` to the name.
 */
export function deriveEventId(requesterId: string, eventData: Record<string, unknown>, attempt = 0): string {
  return derivedEventIdOf(requesterId, canonicalJson(eventData), attempt);
}

/** deriveEventId from the canonical JSON text of event_data (what the ledger already holds). */
export function derivedEventIdOf(requesterId: string, canonicalContent: string, attempt = 0): string {
  if (!Number.isSafeInteger(attempt) || attempt < 0) throw new RangeError(`derived event id attempt ${attempt} is not a whole number ≥ 0`);
  const suffix = attempt === 0 ? '' : `\n${attempt}`;
  return nameBasedUuid(DERIVED_EVENT_ID_NAMESPACE, `${requesterId}\n${canonicalContent}${suffix}`);
}
