import { ForbiddenException, HttpException, HttpStatus, UnauthorizedException } from '@nestjs/common';
import type { VerifiedRequester } from './verified-requester';

export enum GovernanceErrorCode {
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  RequesterMismatch = 'requester_mismatch',
  /** A write presented a token whose jti was already used (captured and replayed, or reused by mistake). */
  TokenReplayed = 'token_replayed',
  /** Too many failed authentications from this client; the response carries Retry-After. */
  RateLimited = 'rate_limited',
}

export function unauthenticated(message: string, code = GovernanceErrorCode.Unauthenticated): UnauthorizedException {
  return new UnauthorizedException({ code, message });
}

/** 401 token_replayed: the token's jti was already claimed for another write (here or on another replica). */
export function tokenReplayed(tokenId: string, operation: string): UnauthorizedException {
  return unauthenticated(`token ${tokenId} was already used; every ${operation} needs a fresh token`, GovernanceErrorCode.TokenReplayed);
}

export function tooManyAuthFailures(retryAfterSeconds: number): HttpException {
  return new HttpException(
    {
      code: GovernanceErrorCode.RateLimited,
      message: `too many failed authentications from this client; retry after ${retryAfterSeconds} s`,
    },
    HttpStatus.TOO_MANY_REQUESTS,
  );
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
