import { type ArgumentMetadata, HttpStatus, ValidationError, ValidationPipe, type ValidationPipeOptions } from '@nestjs/common';
import { CommonErrorCode, FieldError } from '@pancha/contracts';
import { DomainException } from '../errors/domain.exception';
import { asSentPathsOf, type DtoClass, holdsStrippedMembers, restoreAsSent, withoutStrippedMembers } from './as-sent-json';
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

/**
 * Nest's ValidationPipe, except that it never deletes members named __proto__, constructor or prototype from the
 * value it is given (Nest's does, in place and at every depth, after the request was accepted: free-form JSON lost
 * them silently). class-transformer walks a copy without them instead, so no prototype changes, and the members the
 * DTO declares free-form (keepAsSent) are then restored as sent; the body itself stays as sent for whatever else
 * reads it (`@Body('event_data')`). One walk of the value, in place of Nest's own (stripProtoKeys); a copy only when
 * such a member is there.
 */
export class AsSentValidationPipe extends ValidationPipe {
  constructor(options?: ValidationPipeOptions) {
    super(options);
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const metatype = this.expectedType ?? metadata.metatype;
    // Nest walks (and strips) only what it validates as a class; the rest it passes through as it is.
    if (!metatype || !this.toValidate({ ...metadata, metatype }) || !holdsStrippedMembers(value)) return super.transform(value, metadata);
    const instance: unknown = await super.transform(withoutStrippedMembers(value), metadata);
    restoreAsSent(instance, value, asSentPathsOf(metatype as DtoClass));
    return instance;
  }

  protected override stripProtoKeys(): void {
    // Nothing to delete: the value super.transform is given holds none of these members (transform).
  }
}

/** 422 naming every bad field; unknown properties are dropped, primitives converted only where declared. */
export function createValidationPipe(): ValidationPipe {
  return new AsSentValidationPipe({
    whitelist: true,
    transform: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => validationException(flattenValidationErrors(errors)),
  });
}
