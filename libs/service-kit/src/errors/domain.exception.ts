import { HttpException } from '@nestjs/common';
import type { FieldError } from '@pancha/contracts';

/**
 * A failure the caller can act on: an HTTP status, a stable string code from a feature's enum, and a
 * message for humans. The ApiExceptionFilter renders it as `{ code, message, trace_id, errors? }`.
 */
export class DomainException extends HttpException {
  constructor(
    status: number,
    readonly code: string,
    message: string,
    readonly errors?: FieldError[],
  ) {
    super({ code, message, errors }, status);
  }
}
