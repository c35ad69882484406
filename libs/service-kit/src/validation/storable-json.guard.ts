import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { MAX_JSON_DEPTH } from '@pancha/contracts';
import type { Request } from 'express';
import { findUnstorableJson } from './storable-json';
import { validationException } from './validation.pipe';

/**
 * Refuses (422, fields named) bodies, query strings and path parameters the database cannot store
 * (U+0000, unpaired surrogates) or that nest too deep, before the validation pipe walks them: bad
 * input must never surface as a 5xx.
 *
 * A guard rather than an interceptor: any interceptor makes Nest wrap every request in rxjs and two
 * AsyncResource.bind calls (each defining deprecated accessors through util.deprecate), which cost Core
 * about 2 % of its CPU per request for a check that returns nothing. Registered with useGlobalGuards
 * after the module's APP_GUARDs (service auth, rate limit), so it runs where the interceptor ran: after the
 * caller is authenticated and before the pipe.
 */
export class StorableJsonGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const errors = [
      ...findUnstorableJson(req.params ?? {}, MAX_JSON_DEPTH),
      ...findUnstorableJson(req.query ?? {}, MAX_JSON_DEPTH),
      ...(req.body === undefined ? [] : findUnstorableJson(req.body, MAX_JSON_DEPTH)),
    ];
    if (errors.length) throw validationException(errors);
    return true;
  }
}
