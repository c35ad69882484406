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
