import { HttpStatus } from '@nestjs/common';
import { CommonErrorCode } from '@pancha/contracts';
import { DomainException } from '../errors/domain.exception';
import { validationException } from './validation.pipe';

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

/**
 * For a body whose fields choose the effect (a run start's `version`): a field the DTO does not define is dropped by
 * the validation pipe's whitelist, so a typo (`verison`) would start the default version. `sent` is the body as
 * parsed, `accepted` the validated DTO (the whitelist kept exactly the known fields): a 422 naming each other field,
 * before anything is stored.
 */
export function refuseUnknownBodyFields(sent: unknown, accepted: object, route: string): void {
  if (sent === null || typeof sent !== 'object' || Array.isArray(sent)) return;
  const unknown = Object.keys(sent).filter((name) => !Object.prototype.hasOwnProperty.call(accepted, name));
  if (unknown.length === 0) return;
  throw validationException(unknown.map((name) => ({ field: name.slice(0, 80), messages: [`is not a field of ${route}: nothing was started`] })));
}

/** At most this many unknown names are listed: a query of a thousand made-up parameters gets a bounded answer. */
const MAX_NAMED = 20;

/**
 * For a read route whose query parameters filter what it answers (`GET /events?type=`): one it does not define
 * (`?stauts=skipped`, `?typ=x`) would be ignored and the unfiltered answer taken for a filtered one. A 400 naming
 * each, saying which the route takes; `hints` adds a word for a name callers are known to send by mistake
 * (`window` to a route that takes `since`).
 */
export function refuseUnknownQueryParameters(
  query: Record<string, unknown>,
  known: readonly string[],
  route: string,
  hints: Readonly<Record<string, string>> = {},
): void {
  const allowed = new Set(known);
  const unknown = Object.keys(query).filter((name) => !allowed.has(name));
  if (unknown.length === 0) return;
  const named = unknown.slice(0, MAX_NAMED).map((name) => name.slice(0, 80));
  const more = unknown.length > named.length ? ` and ${unknown.length - named.length} more` : '';
  const takes = known.length === 0 ? `${route} takes none` : `${route} takes ${known.join(', ')}`;
  throw new DomainException(
    HttpStatus.BAD_REQUEST,
    CommonErrorCode.BadRequest,
    `unknown query parameter${unknown.length === 1 ? '' : 's'} ${named.join(', ')}${more}: ${takes}`,
    named.map((field) => {
      const hint = Object.prototype.hasOwnProperty.call(hints, field) ? `: ${hints[field]}` : '';
      return { field, messages: [`is not a query parameter of ${route}${hint}`] };
    }),
  );
}
