import { HttpStatus } from '@nestjs/common';
import { BucketErrorCode } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';

export class EventIdConflictException extends DomainException {
  constructor(eventId: string, seq: number) {
    super(
      HttpStatus.CONFLICT,
      BucketErrorCode.EventIdConflict,
      `event_id ${eventId} is already recorded (seq ${seq}) with different content or by another requester`,
    );
  }
}

export class ProductForbiddenException extends DomainException {
  constructor(product: string) {
    super(HttpStatus.FORBIDDEN, BucketErrorCode.ProductForbidden, `the caller's credential does not name product ${JSON.stringify(product)}`);
  }
}
