import { HttpStatus } from '@nestjs/common';
import { FieldError, KarmaErrorCode } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';

/** A Karma failure the caller can act on; rendered as `{ code, message, trace_id, errors? }`. */
export class KarmaException extends DomainException {
  constructor(status: number, code: KarmaErrorCode, message: string, errors?: FieldError[]) {
    super(status, code, message, errors);
  }
}

/** 422 naming the field and the accepted values (unknown action, role or atonement kind). */
export function vocabularyException(code: KarmaErrorCode, errors: FieldError[]): KarmaException {
  return new KarmaException(HttpStatus.UNPROCESSABLE_ENTITY, code, errors.map((e) => e.messages.join('; ')).join('; '), errors);
}

export function userNotFound(userId: string): KarmaException {
  return new KarmaException(HttpStatus.NOT_FOUND, KarmaErrorCode.UserNotFound, `no karma recorded for user ${userId}`);
}

export function planNotFound(userId: string, planId: string): KarmaException {
  return new KarmaException(HttpStatus.NOT_FOUND, KarmaErrorCode.PlanNotFound, `user ${userId} has no atonement plan ${planId}`);
}

export function planClosed(planId: string, why: 'atoned' | 'expired'): KarmaException {
  return new KarmaException(HttpStatus.CONFLICT, KarmaErrorCode.PlanClosed, `atonement plan ${planId} is closed: its paap entry is ${why}`);
}

export function eventIdConflict(eventId: string): KarmaException {
  return new KarmaException(
    HttpStatus.CONFLICT,
    KarmaErrorCode.EventIdConflict,
    `event_id ${eventId} was already used for a different event`,
    [{ field: 'data.event_id', messages: ['already used for a different event'] }],
  );
}
