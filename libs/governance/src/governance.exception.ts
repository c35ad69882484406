import { ForbiddenException, UnauthorizedException } from '@nestjs/common';
import type { VerifiedRequester } from './verified-requester';

export enum GovernanceErrorCode {
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  RequesterMismatch = 'requester_mismatch',
}

export function unauthenticated(message: string): UnauthorizedException {
  return new UnauthorizedException({ code: GovernanceErrorCode.Unauthenticated, message });
}

export function forbidden(message: string): ForbiddenException {
  return new ForbiddenException({ code: GovernanceErrorCode.Forbidden, message });
}

/**
 * The requester_id a body claims must be the verified token subject (SPEC §3): a caller cannot write
 * in another service's name. 403 `requester_mismatch` otherwise.
 */
export function assertBodyRequester(bodyRequesterId: unknown, requester: VerifiedRequester): void {
  if (bodyRequesterId !== requester.id) {
    throw new ForbiddenException({
      code: GovernanceErrorCode.RequesterMismatch,
      message: `requester_id ${JSON.stringify(bodyRequesterId)} does not match the authenticated requester "${requester.id}"`,
    });
  }
}
