import type { FieldError } from '@pancha/contracts';
import { storableText, unstorableTextProblem } from '@pancha/contracts';

const MAX_REPORTED = 20;

/**
 * `value` with every string (object keys too) made storable: U+0000 and unpaired surrogates become U+FFFD. For text
 * a service made or was handed rather than received in a request (a model's reply, a provider's id), which no guard
 * has seen: without it the transaction storing it fails. Walks arrays and plain objects to `maxDepth` and returns
 * anything else (a Date, a number) as it is.
 */
export function toStorableJson<T>(value: T, maxDepth = 8): T {
  return storable(value, 0, maxDepth) as T;
}

function storable(value: unknown, depth: number, maxDepth: number): unknown {
  if (typeof value === 'string') return storableText(value);
  if (value === null || typeof value !== 'object' || depth > maxDepth) return value;
  if (Array.isArray(value)) return value.map((item) => storable(item, depth + 1, maxDepth));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k, depth + 1, maxDepth) as string, storable(v, depth + 1, maxDepth)]));
}

const STRING_PROBLEMS = { nul: 'must not contain U+0000 (PostgreSQL cannot store it)', lone_surrogate: 'must be well-formed Unicode (unpaired surrogate)' };

function stringProblem(value: string): string | undefined {
  const problem = unstorableTextProblem(value);
  return problem && STRING_PROBLEMS[problem];
}

/**
 * Values in a parsed JSON body that the database could not store, or nesting deeper than `maxDepth`,
 * named by dotted path. Iterative on purpose: a 256 KiB body can nest ~100k levels, which would
 * overflow the stack of any recursive walker (class-transformer's included) and become a 500.
 */
export function findUnstorableJson(root: unknown, maxDepth: number): FieldError[] {
  const errors: FieldError[] = [];
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: '', depth: 0 }];
  while (stack.length && errors.length < MAX_REPORTED) {
    const { value, path, depth } = stack.pop() as { value: unknown; path: string; depth: number };
    if (typeof value === 'string') {
      const problem = stringProblem(value);
      if (problem) errors.push({ field: path || '(body)', messages: [problem] });
      continue;
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      // JSON.parse turns 1e400 into Infinity, which has no JSON form to store or hash.
      errors.push({ field: path || '(body)', messages: ['must be a finite number'] });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth + 1 > maxDepth) {
      errors.push({ field: path || '(body)', messages: [`nests deeper than ${maxDepth} levels`] });
      continue;
    }
    const entries: Array<[string, unknown]> = Array.isArray(value)
      ? value.map((item, i) => [String(i), item])
      : Object.entries(value as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i];
      // An item of a body that is an array (a batch of events) is named as the routes name it: `[2].data.s`.
      const childPath = path ? `${path}.${key}` : Array.isArray(value) ? `[${key}]` : key;
      const keyProblem = Array.isArray(value) ? undefined : stringProblem(key);
      if (keyProblem) {
        errors.push({ field: childPath, messages: [`key ${keyProblem}`] });
        continue;
      }
      stack.push({ value: item, path: childPath, depth: depth + 1 });
    }
  }
  return errors;
}
