import type { ExecutionResult } from '@pancha/contracts';
import { toStorableJson } from '@pancha/service-kit';

/**
 * The result with every string made storable (U+0000 and unpaired surrogates become U+FFFD). PostgreSQL's jsonb
 * (ours, Bucket's, Karma's) cannot hold either and every receiver refuses them (422), yet a provider's text can
 * contain both (a model's reply, an SMTP server's id). Without it the transaction recording an action that did
 * happen would fail (500, and the action reported as a timeout later).
 */
export function storableResult(result: ExecutionResult): ExecutionResult {
  return toStorableJson(result);
}
