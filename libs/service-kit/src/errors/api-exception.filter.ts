import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import { ApiErrorBody, CommonErrorCode, FieldError } from '@pancha/contracts';
import type { Response } from 'express';
import { isDatabaseUnavailableError } from './database-errors';

const CODE_BY_STATUS: Record<number, CommonErrorCode> = {
  400: CommonErrorCode.BadRequest,
  401: CommonErrorCode.Unauthenticated,
  403: CommonErrorCode.Forbidden,
  404: CommonErrorCode.NotFound,
  409: CommonErrorCode.Conflict,
  413: CommonErrorCode.PayloadTooLarge,
  415: CommonErrorCode.UnsupportedMediaType,
  422: CommonErrorCode.ValidationFailed,
  429: CommonErrorCode.RateLimited,
  503: CommonErrorCode.DependencyUnavailable,
};

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
  message?: string;
}

/** Renders every failure as `{ code, message, trace_id, errors? }`; nothing leaks a stack or a 5xx for bad input. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ApiExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = this.toBody(exception);
    if (status >= 500) {
      this.logger.error({ err: exception, code: body.code }, body.message);
    }
    if (res.headersSent) return;
    res.status(status).json(body);
  }

  toBody(exception: unknown): { status: number; body: ApiErrorBody } {
    const trace_id = trace.getActiveSpan()?.spanContext().traceId ?? null;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const obj = typeof response === 'object' && response !== null ? (response as Record<string, unknown>) : {};
      const rawMessage = obj.message ?? (typeof response === 'string' ? response : exception.message);
      const message = Array.isArray(rawMessage) ? rawMessage.join('; ') : String(rawMessage);
      if (status === 400 && typeof obj.code !== 'string' && /JSON/.test(message)) {
        // Nest turns body-parser's SyntaxError into a bare BadRequestException before any filter sees it.
        return { status, body: { code: CommonErrorCode.InvalidJson, message: `request body is not valid JSON: ${message}`, trace_id } };
      }
      const code = typeof obj.code === 'string' ? obj.code : (CODE_BY_STATUS[status] ?? CommonErrorCode.BadRequest);
      const errors = Array.isArray(obj.errors) ? (obj.errors as FieldError[]) : undefined;
      return { status, body: { code, message, trace_id, ...(errors ? { errors } : {}) } };
    }
    const bp = exception as BodyParserError;
    // body-parser (an http-errors error: a `type`, or `expose` for a 4xx such as a body that does not match its
    // Content-Encoding): oversized, undecodable or unparsable bodies are the caller's problem, never ours.
    const fromBodyParser = bp && typeof bp === 'object' && (typeof bp.type === 'string' || bp.expose === true);
    if (fromBodyParser && typeof bp.status === 'number' && bp.status >= 400 && bp.status < 500) {
      if (bp.type === 'entity.too.large') {
        return { status: 413, body: { code: CommonErrorCode.PayloadTooLarge, message: 'request body exceeds 256 KiB', trace_id } };
      }
      return { status: bp.status, body: { code: CODE_BY_STATUS[bp.status] ?? CommonErrorCode.BadRequest, message: bp.message ?? 'bad request', trace_id } };
    }
    if (isDatabaseUnavailableError(exception)) {
      return {
        status: HttpStatus.SERVICE_UNAVAILABLE,
        body: { code: CommonErrorCode.DatabaseUnavailable, message: 'the service database is unavailable; retry later', trace_id },
      };
    }
    return { status: 500, body: { code: CommonErrorCode.Internal, message: 'internal error', trace_id } };
  }
}
