import { IDEMPOTENCY_KEY_PATTERN } from '@pancha/contracts';
import { validationException } from './validation.pipe';

/** An `Idempotency-Key` header as sent, or a 422 naming it when it is not 1–255 visible ASCII characters. */
export function checkedIdempotencyKey(key: string | undefined): string | undefined {
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw validationException([{ field: 'Idempotency-Key', messages: ['Idempotency-Key must be 1 to 255 visible ASCII characters (a random UUID, say)'] }]);
  }
  return key;
}
