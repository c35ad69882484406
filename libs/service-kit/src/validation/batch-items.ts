import { HttpStatus } from '@nestjs/common';
import type { EventBatchOutcome } from '@pancha/contracts';
import { type ClassConstructor, plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { ApiExceptionFilter } from '../errors/api-exception.filter';
import { flattenValidationErrors, validationException } from './validation.pipe';

const filter = new ApiExceptionFilter();

/**
 * One body of a batch request validated as the global validation pipe validates a single request's body
 * (unknown members dropped, declared conversions applied); throws the same 422 naming every bad field.
 */
export async function validateBatchItem<T extends object>(cls: ClassConstructor<T>, plain: unknown): Promise<T> {
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    throw validationException([{ field: '(body)', messages: ['must be a JSON object'] }]);
  }
  const instance = plainToInstance(cls, plain);
  const errors = await validate(instance, { whitelist: true, stopAtFirstError: false, validationError: { target: false, value: false } });
  if (errors.length) throw validationException(flattenValidationErrors(errors));
  return instance;
}

/** The status and error body the single route would have answered for `error` (the exception filter's rendering). */
export function batchErrorOutcome(error: unknown): EventBatchOutcome<never> {
  const { status, body } = filter.toBody(error);
  return { status: status || HttpStatus.INTERNAL_SERVER_ERROR, body };
}
