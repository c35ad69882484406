/** Error codes Core answers with beyond the common ones (`{ code, message, trace_id }`). */
export enum CoreErrorCode {
  TaskNotFound = 'task_not_found',
}

/** Why a task view has an empty timeline although the task exists. */
export enum TimelineError {
  BucketUnavailable = 'bucket_unavailable',
}
