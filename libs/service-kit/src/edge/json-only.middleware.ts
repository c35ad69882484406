import { HttpStatus } from '@nestjs/common';
import { CommonErrorCode } from '@pancha/contracts';
import type { NextFunction, Request, Response } from 'express';
import { ApiExceptionFilter } from '../errors/api-exception.filter';
import { DomainException } from '../errors/domain.exception';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/** A request carries a body when it declares a length above zero or a transfer encoding (RFC 9112 §6.3). */
function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

function mediaType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Every Pancha endpoint speaks JSON only: a request with a body in any other media type is refused with
 * 415 before any parser runs. Beyond clarity this closes cross-site requests: an HTML form can only send
 * urlencoded, multipart or text bodies, and a cross-site JSON request needs a CORS preflight that only the
 * CORS_ORIGINS allow-list passes.
 */
export function jsonOnly(req: Request, res: Response, next: NextFunction): void {
  if (!hasBody(req) || JSON_TYPE.test(mediaType(req))) {
    next();
    return;
  }
  const given = mediaType(req) || 'none';
  const { status, body } = new ApiExceptionFilter().toBody(
    new DomainException(
      HttpStatus.UNSUPPORTED_MEDIA_TYPE,
      CommonErrorCode.UnsupportedMediaType,
      `request body must be application/json (Content-Type: ${given})`,
    ),
  );
  // The body is never read: close the connection rather than drain whatever the client is sending.
  res.setHeader('connection', 'close');
  res.status(status).json(body);
}

/**
 * The body parser (strict: a body is a JSON object or array, what every route takes) refuses `null`, `"x"` or `5` with
 * a SyntaxError that says the body "is not valid JSON", which it is. This error handler, mounted right after the
 * parser, answers such a body for what it is: a 400 saying a body must be an object or an array, naming what came.
 * Anything else goes on as it was.
 */
export function jsonScalarBody(error: unknown, req: Request, res: Response, next: NextFunction): void {
  const raw = (error as { type?: unknown; body?: unknown } | null)?.type === 'entity.parse.failed' ? (error as { body?: unknown }).body : undefined;
  let value: unknown;
  try {
    value = typeof raw === 'string' ? JSON.parse(raw) : undefined;
  } catch {
    next(error);
    return;
  }
  if (typeof raw !== 'string' || (value !== null && typeof value === 'object')) {
    next(error);
    return;
  }
  const what = value === null ? 'null' : typeof value === 'string' ? 'a string' : typeof value === 'number' ? 'a number' : 'a boolean';
  const { status, body } = new ApiExceptionFilter().toBody(
    new DomainException(HttpStatus.BAD_REQUEST, CommonErrorCode.BadRequest, `request body must be a JSON object or array, got ${what}`),
  );
  res.status(status).json(body);
}
