/** Error codes of Core's event router (`POST /events`, `GET /events…`; docs/events.md). */
export enum EventErrorCode {
  /** 422: an event's attributes or `data` are refused; `errors` names each field. */
  EventInvalid = 'event_invalid',
  /** 404: no event of that id, or none the caller's products may see. */
  EventNotFound = 'event_not_found',
  /**
   * 409: the id was first sent by another publisher, or by this one for an event outside the caller's products. It
   * tells nothing of that event.
   */
  EventIdConflict = 'event_id_conflict',
  /**
   * 409: the publisher sent this id before with other content (type, source, subject or data; `time` aside). A retry
   * resends the same event; a new event needs a new id. Nothing is stored.
   */
  EventIdReused = 'event_id_reused',
  /** 403: the requester may not publish some event type of the request (the policy's `events` section). */
  PublishForbidden = 'publish_forbidden',
}
