import { HttpStatus } from '@nestjs/common';
import { BucketErrorCode } from '@pancha/contracts';
import type { FieldError } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';

/**
 * A write reusing a recorded event_id with other content. `seq` is the recorded entry's, given only when the caller's
 * products name that entry's product: of an entry outside them the answer says only that the id is taken, so ids
 * cannot be probed for other products' entries.
 */
export class EventIdConflictException extends DomainException {
  constructor(eventId: string, seq?: number) {
    super(
      HttpStatus.CONFLICT,
      BucketErrorCode.EventIdConflict,
      seq === undefined
        ? `event_id ${eventId} is already recorded`
        : `event_id ${eventId} is already recorded (seq ${seq}) with different content or by another requester`,
    );
  }
}

/** A PRANA batch that stored nothing new because packets reused recorded event_ids with other content. */
export class PacketConflictException extends DomainException {
  constructor(conflicts: FieldError[]) {
    super(
      HttpStatus.CONFLICT,
      BucketErrorCode.EventIdConflict,
      `${conflicts.length} packet(s) reuse an event_id already recorded with other content; nothing new was stored`,
      conflicts,
    );
  }
}

export class ProductForbiddenException extends DomainException {
  constructor(product: string) {
    super(HttpStatus.FORBIDDEN, BucketErrorCode.ProductForbidden, `the caller's credential does not name product ${JSON.stringify(product)}`);
  }
}

export class ChannelForbiddenException extends DomainException {
  constructor(requesterId: string, channel: string) {
    super(
      HttpStatus.FORBIDDEN,
      BucketErrorCode.ChannelForbidden,
      `requester ${JSON.stringify(requesterId)} may not write the ${channel} channel (config/policy.yaml channels.bucket)`,
    );
  }
}

export class WholeChainForbiddenException extends DomainException {
  constructor() {
    super(
      HttpStatus.FORBIDDEN,
      BucketErrorCode.WholeChainForbidden,
      'the whole chain (audit, size, head) is visible only to a credential that sees every product',
    );
  }
}
