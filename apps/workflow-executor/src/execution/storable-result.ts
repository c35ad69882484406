import type { ExecutionResult } from '@pancha/contracts';

// PostgreSQL's jsonb (ours, Bucket's, Karma's) cannot hold U+0000 or an unpaired UTF-16 surrogate, and every
// receiver refuses them (422). A provider's text can contain either (a model's reply, an SMTP server's id).
const NUL = String.fromCharCode(0);
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const REPLACEMENT = '\ufffd';

function storable(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.split(NUL).join(REPLACEMENT).replace(LONE_SURROGATE, REPLACEMENT);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => storable(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k, depth + 1) as string, storable(v, depth + 1)]));
}

/**
 * The result with every string made storable (U+0000 and unpaired surrogates become U+FFFD). Without it the
 * transaction recording an action that did happen would fail (500, and the action reported as a timeout later).
 */
export function storableResult(result: ExecutionResult): ExecutionResult {
  return storable(result, 0) as ExecutionResult;
}
