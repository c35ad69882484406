import { HttpStatus, SetMetadata } from '@nestjs/common';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { MAX_JSON_DEPTH } from '@pancha/contracts';
import { DomainException } from '../errors/domain.exception';
import type { Request } from 'express';
import { findUnstorableJson } from './storable-json';
import { validationException } from './validation.pipe';

const ITEMS_CHECKED_ALONE = 'pancha:storable-json:items-checked-alone';

/**
 * Marks a batch route whose items' bodies the route checks one by one (validateBatchItem and answerEachItem do):
 * the guard then checks only the envelope, so an unstorable or too deeply nested item is that item's 422 and its
 * neighbours go on, as over JetStream. BatchEvents() applies it.
 */
export const StorableItemsCheckedAlone = (): MethodDecorator => SetMetadata(ITEMS_CHECKED_ALONE, true);

const REFUSED_AS = 'pancha:storable-json:refused-as';

/**
 * The 422 a route answers its own bad input with, for the guard's refusals too: `code`, and the message
 * `invalid <what>: <fields>` (POST /events: `event_invalid`, `invalid event: [1].data.s`), so a client sees one code
 * whichever check found the problem. Without it the guard answers `validation_failed`, as the validation pipe does.
 */
export const StorableJsonRefusedAs = (code: string, what: string): MethodDecorator => SetMetadata(REFUSED_AS, { code, what });

/** A batch envelope (`{ events: [{ body, … }] }`) without its items' bodies; anything else as it is. */
function envelopeOnly(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || !Array.isArray((body as { events?: unknown }).events)) return body;
  const events = (body as { events: unknown[] }).events.map((item) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const { body: _checkedAlone, ...rest } = item as Record<string, unknown>;
    return rest;
  });
  return { ...body, events };
}

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
  private readonly reflector = new Reflector();

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const body = this.reflector.get<boolean | undefined>(ITEMS_CHECKED_ALONE, context.getHandler()) ? envelopeOnly(req.body) : req.body;
    const errors = [
      ...findUnstorableJson(req.params ?? {}, MAX_JSON_DEPTH),
      ...findUnstorableJson(req.query ?? {}, MAX_JSON_DEPTH),
      ...(body === undefined ? [] : findUnstorableJson(body, MAX_JSON_DEPTH)),
    ];
    if (errors.length) {
      const as = this.reflector.get<{ code: string; what: string } | undefined>(REFUSED_AS, context.getHandler());
      if (!as) throw validationException(errors);
      const names = [...new Set(errors.map((e) => e.field))].slice(0, 20).join(', ');
      throw new DomainException(HttpStatus.UNPROCESSABLE_ENTITY, as.code, `invalid ${as.what}: ${names}`, errors);
    }
    return true;
  }
}
