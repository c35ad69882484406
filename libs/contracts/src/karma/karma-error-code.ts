/** Karma's own error codes (CommonErrorCode covers the rest). */
export enum KarmaErrorCode {
  /** 422: data.action is not in the configured vocabulary; the message lists the accepted values. */
  UnknownAction = 'unknown_action',
  /** 422: data.atonement_type is not one of the plan's kinds. */
  UnknownAtonementType = 'unknown_atonement_type',
  /** 422: the event's timestamp lies in the future beyond the allowed clock skew. */
  TimestampInFuture = 'timestamp_in_future',
  /** 404: no ledger entry for this user. */
  UserNotFound = 'user_not_found',
  /** 404: no paap entry with this plan id for this user. */
  PlanNotFound = 'plan_not_found',
  /** 409: the plan's paap entry is already atoned or expired. */
  PlanClosed = 'plan_closed',
  /** 409: this event_id was already used for a different event. */
  EventIdConflict = 'event_id_conflict',
}
