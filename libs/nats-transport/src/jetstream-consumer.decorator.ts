import { applyDecorators, Catch, Controller, UseFilters, UsePipes, type RpcExceptionFilter } from '@nestjs/common';
import { createValidationPipe } from '@pancha/service-kit';
import { throwError, type Observable } from 'rxjs';

/**
 * Hands the handler's own error to JetStreamServer untouched (Nest's default rpc filter would replace it
 * with "Internal server error"), so the server can tell a 422/403/409 (reject) from an outage (retry).
 */
@Catch()
export class JetStreamExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

/**
 * A controller of @EventPattern handlers served by JetStreamServer: payloads are validated with the
 * service's usual pipe (the same DTO classes as its HTTP routes; 422 → rejected) and errors reach the server.
 * Filters and pipes are bound here because a hybrid app's microservice does not inherit the HTTP app's.
 */
export function JetStreamConsumer(): ClassDecorator {
  return applyDecorators(Controller(), UsePipes(createValidationPipe()), UseFilters(new JetStreamExceptionFilter()));
}
