import { HttpStatus } from '@nestjs/common';
import { CommonErrorCode, CoreErrorCode, type FieldError } from '@pancha/contracts';
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

/** 403: a credential submits only within its products (T9); each task naming another product is listed. */
export class TaskProductForbiddenException extends DomainException {
  constructor(requesterId: string, refused: readonly { field: string; product: string }[]) {
    const errors: FieldError[] = refused.map((r) => ({ field: r.field, messages: [`requester ${requesterId} may not act for product ${r.product}`] }));
    super(HttpStatus.FORBIDDEN, CommonErrorCode.Forbidden, `requester ${requesterId} may not act for product ${[...new Set(refused.map((r) => r.product))].join(', ')}`, errors);
  }
}
