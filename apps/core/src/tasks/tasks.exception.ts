import { HttpStatus } from '@nestjs/common';
import { CoreErrorCode } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';

export class TaskNotFoundException extends DomainException {
  constructor(taskId: string) {
    super(HttpStatus.NOT_FOUND, CoreErrorCode.TaskNotFound, `no task with task_id ${taskId}`);
  }
}

/** 409: the same requester used this Idempotency-Key for a different body; the key names one request only. */
export class IdempotencyKeyReusedException extends DomainException {
  constructor() {
    super(
      HttpStatus.CONFLICT,
      CoreErrorCode.IdempotencyKeyReused,
      'this Idempotency-Key was already used with a different request body; use a new key for a new request',
    );
  }
}
