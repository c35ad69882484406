import { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { MAX_JSON_DEPTH } from '@pancha/contracts';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { findUnstorableJson } from './storable-json';
import { validationException } from './validation.pipe';

/**
 * Refuses (422, fields named) bodies, query strings and path parameters the database cannot store
 * (U+0000, unpaired surrogates) or that nest too deep, before the validation pipe walks them: bad
 * input must never surface as a 5xx.
 */
export class StorableJsonInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const req = context.switchToHttp().getRequest<Request>();
      const errors = [
        ...findUnstorableJson(req.params ?? {}, MAX_JSON_DEPTH),
        ...findUnstorableJson(req.query ?? {}, MAX_JSON_DEPTH),
        ...(req.body === undefined ? [] : findUnstorableJson(req.body, MAX_JSON_DEPTH)),
      ];
      if (errors.length) throw validationException(errors);
    }
    return next.handle();
  }
}
