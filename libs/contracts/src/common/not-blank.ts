import { Matches } from 'class-validator';

/** Holds something besides whitespace (the whitespace String.prototype.trim removes). */
export const NOT_BLANK = /\S/;

/** Whether `value` is a string that is not only whitespace. */
export function isNotBlank(value: unknown): value is string {
  return typeof value === 'string' && NOT_BLANK.test(value);
}

/** A string field that must not be only whitespace: a 422 saying `<field> must not be blank`. */
export const IsNotBlank = (): PropertyDecorator => Matches(NOT_BLANK, { message: '$property must not be blank' });
