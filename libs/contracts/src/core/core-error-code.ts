/** Error codes Core answers with beyond the common ones (`{ code, message, trace_id }`). */
export enum CoreErrorCode {
  /** 404: no task with this id, or none the caller's products let it see (the two are not told apart). */
  TaskNotFound = 'task_not_found',
  /** 409: this Idempotency-Key was already used by the same requester with a different body. */
  IdempotencyKeyReused = 'idempotency_key_reused',
}

/** `Idempotency-Key` of POST /handle_task: 1–255 visible ASCII characters; a random UUID is the usual choice. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** Why a task view has an empty timeline although the task exists. */
export enum TimelineError {
  BucketUnavailable = 'bucket_unavailable',
}
