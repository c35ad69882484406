import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { BUCKET_LIMITS } from '@pancha/contracts';
import { validationException } from '@pancha/service-kit';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { findUnstorableJson } from './storable-json';

/**
 * Refuses (422, fields named) bodies, query strings and path parameters the database cannot store
 * (U+0000, unpaired surrogates) or that nest too deep, before the validation pipe walks them: bad
 * input must never surface as a 5xx.
 */
@Injectable()
export class StorableJsonInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const req = context.switchToHttp().getRequest<Request>();
      const errors = [
        ...findUnstorableJson(req.params ?? {}, BUCKET_LIMITS.jsonDepth),
        ...findUnstorableJson(req.query ?? {}, BUCKET_LIMITS.jsonDepth),
        ...(req.body === undefined ? [] : findUnstorableJson(req.body, BUCKET_LIMITS.jsonDepth)),
      ];
      if (errors.length) throw validationException(errors);
    }
    return next.handle();
  }
}
