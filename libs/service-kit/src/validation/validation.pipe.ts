import { HttpStatus, ValidationError, ValidationPipe } from '@nestjs/common';
import { CommonErrorCode, FieldError } from '@pancha/contracts';
import { DomainException } from '../errors/domain.exception';
import { memoizeValidationMetadata } from './validation-metadata-cache';

// Every service validates through this module (the global pipe, batch items): its bodies then skip class-validator's
// scan of every registered class per object.
memoizeValidationMetadata();

/** Flattens class-validator's tree into one entry per bad field, named by its dotted path. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    if (error.constraints) out.push({ field, messages: Object.values(error.constraints) });
    if (error.children?.length) out.push(...flattenValidationErrors(error.children, field));
  }
  return out;
}

export function validationException(errors: FieldError[]): DomainException {
  const names = errors.map((e) => e.field).join(', ');
  return new DomainException(
    HttpStatus.UNPROCESSABLE_ENTITY,
    CommonErrorCode.ValidationFailed,
    `invalid request: ${names}`,
    errors,
  );
}

/** 422 naming every bad field; unknown properties are dropped, primitives converted only where declared. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    transform: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => validationException(flattenValidationErrors(errors)),
  });
}
