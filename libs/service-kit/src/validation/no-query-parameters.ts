import { HttpStatus } from '@nestjs/common';
import { CommonErrorCode } from '@pancha/contracts';
import { DomainException } from '../errors/domain.exception';

/**
 * For a route that defines no query parameter and has effects (a run start): one it does not know (`?dry=1`) would be
 * ignored and the effect made for a caller who asked for something else. A 400 naming each, before anything is stored.
 */
export function refuseQueryParameters(query: Record<string, unknown>, route: string): void {
  const names = Object.keys(query).map((name) => name.slice(0, 80));
  if (names.length === 0) return;
  throw new DomainException(
    HttpStatus.BAD_REQUEST,
    CommonErrorCode.BadRequest,
    `unknown query parameter${names.length === 1 ? '' : 's'} ${names.join(', ')}: ${route} takes none, and nothing was started`,
    names.map((field) => ({ field, messages: [`is not a query parameter of ${route}`] })),
  );
}
