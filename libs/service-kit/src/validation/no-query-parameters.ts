import { type CanActivate, type ExecutionContext, HttpStatus, RequestMethod, UseGuards } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { CommonErrorCode, type FieldError } from '@pancha/contracts';
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
 * (`?stauts=skipped`, `?typ=x`, `?trace_id[a]=1`) would be ignored and the unfiltered answer taken for a filtered one.
 * A 400 naming each, saying which the route takes; `hints` adds a word for a name callers are known to send by mistake
 * (`window` to a route that takes `since`). Then one it defines given twice (`?limit=1&limit=2` arrives as an array,
 * which no filter reads as meant, and the DTO's validators would only say "must be an integer"): a 422 naming each,
 * "is given more than once".
 */
export function refuseUnknownQueryParameters(
  query: Record<string, unknown>,
  known: readonly string[],
  route: string,
  hints: Readonly<Record<string, string>> = {},
): void {
  const allowed = new Set(known);
  const unknown = Object.keys(query).filter((name) => !allowed.has(name));
  if (unknown.length > 0) {
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
  const repeated: FieldError[] = Object.keys(query)
    .filter((name) => query[name] !== undefined && typeof query[name] !== 'string')
    .map((field) => ({ field, messages: [Array.isArray(query[field]) ? 'is given more than once' : 'must be a single value'] }));
  if (repeated.length === 0) return;
  throw new DomainException(
    HttpStatus.UNPROCESSABLE_ENTITY,
    CommonErrorCode.ValidationFailed,
    repeated.map((e) => `${e.field} ${e.messages[0]}`).join('; '),
    repeated,
  );
}

/**
 * refuseUnknownQueryParameters on a route's query before anything else reads it: the validation pipe of a query DTO
 * included, which would otherwise drop an unknown name (its whitelist) and answer a repeated one with its validators'
 * words. A route's guard runs after the global ones (a caller without a credential still gets its 401) and before
 * the pipes; a guard, not an interceptor, since any interceptor wraps the request in rxjs (StorableJsonGuard says
 * what that costs).
 */
class QueryParametersGuard implements CanActivate {
  private route?: string;

  constructor(
    private readonly known: readonly string[],
    private readonly hints: Readonly<Record<string, string>>,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'http') {
      const query = (context.switchToHttp().getRequest<{ query?: Record<string, unknown> }>().query ?? {}) as Record<string, unknown>;
      refuseUnknownQueryParameters(query, this.known, (this.route ??= routeOf(context)), this.hints);
    }
    return true;
  }
}

/** `GET /core/events`, `GET /api/runs/:run_id`: the route as its controller and handler declare it. */
function routeOf(context: ExecutionContext): string {
  const method = Reflect.getMetadata(METHOD_METADATA, context.getHandler()) as RequestMethod | undefined;
  const paths = [Reflect.getMetadata(PATH_METADATA, context.getClass()), Reflect.getMetadata(PATH_METADATA, context.getHandler())]
    .map((path: unknown) => (Array.isArray(path) ? String(path[0] ?? '') : typeof path === 'string' ? path : ''))
    .map((path) => path.replace(/^\/+|\/+$/g, ''))
    .filter((path) => path !== '');
  return `${method === undefined ? 'GET' : RequestMethod[method]} /${paths.join('/')}`;
}

/**
 * The query parameters a read route takes, named once (the list beside its query DTO, `[]` for a route that takes
 * none): any other is a 400 naming it and a repeated one a 422, before the route's DTO is validated or anything is
 * read (refuseUnknownQueryParameters). The route's name in the answer is the one its decorators declare.
 */
export function QueryParameters(known: readonly string[], hints: Readonly<Record<string, string>> = {}): MethodDecorator {
  return UseGuards(new QueryParametersGuard(known, hints));
}
