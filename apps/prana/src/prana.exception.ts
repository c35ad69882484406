import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import { ApiExceptionFilter } from '@pancha/service-kit';
import type { Response } from 'express';

/** PRANA's error body: `{ error: <code>, message, ...details }` (the console contract). */
export class PranaException extends HttpException {
  constructor(status: number, error: string, message: string, details: Record<string, unknown> = {}) {
    super({ error, message, ...details }, status);
  }
}

export const unauthenticated = (message = 'sign in first'): PranaException =>
  new PranaException(401, 'unauthenticated', message, { login_url: '/auth/login' });

export const forbiddenPermission = (permission: string): PranaException =>
  new PranaException(403, 'forbidden', `your roles do not grant ${permission}`, { permission });

/** Renders PranaException as is and anything else (validation, body parser, bugs) in the same shape. */
@Catch()
export class PranaExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(PranaExceptionFilter.name);
  private readonly fallback = new ApiExceptionFilter();

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    if (exception instanceof PranaException) {
      res.status(exception.getStatus()).json(exception.getResponse());
      return;
    }
    const { status, body } = this.fallback.toBody(exception);
    if (status >= 500) this.logger.error({ err: exception }, body.message);
    res.status(status).json({ error: body.code, message: body.message, trace_id: body.trace_id, ...(body.errors ? { errors: body.errors } : {}) });
  }
}
