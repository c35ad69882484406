import { FIELD_LIMITS } from './field-limits';

/** The one error body every Pancha service answers with (SPEC §2 "Errors everywhere"). */
export interface ApiErrorBody {
  code: string;
  message: string;
  trace_id: string | null;
  errors?: FieldError[];
}

/** One schema violation: the dotted path of the field and what is wrong with it. */
export interface FieldError {
  field: string;
  messages: string[];
}

/** Codes shared by every service; features add their own string enums beside their code. */
export enum CommonErrorCode {
  BadRequest = 'bad_request',
  InvalidJson = 'invalid_json',
  ValidationFailed = 'validation_failed',
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  RequesterMismatch = 'requester_mismatch',
  NotFound = 'not_found',
  Conflict = 'conflict',
  PayloadTooLarge = 'payload_too_large',
  UnsupportedMediaType = 'unsupported_media_type',
  RateLimited = 'rate_limited',
  DatabaseUnavailable = 'database_unavailable',
  DependencyUnavailable = 'dependency_unavailable',
  Internal = 'internal_error',
}

/** Request bodies above this are refused with 413 by every service. */
export const MAX_BODY_BYTES = 256 * 1024;

/** Request JSON may nest at most this deep: deeper input is a 422, not a stack overflow in a validator. */
export const MAX_JSON_DEPTH = 32;

/**
 * Identifier lengths every pillar accepts, so nothing one service acknowledged is refused by the next hop
 * (an event Karma or Bucket would refuse is otherwise dead-lettered after the caller heard 2xx).
 */
export const ID_LIMITS = { userId: FIELD_LIMITS.userId, product: FIELD_LIMITS.product } as const;
