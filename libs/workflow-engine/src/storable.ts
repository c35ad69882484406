import { storableText, unstorableTextProblem } from '@pancha/contracts';
import { EngineErrorCode, engineError } from './engine-errors';
import type { StepError } from './run-state';

// PostgreSQL's text and jsonb hold neither U+0000 nor unpaired UTF-16 surrogates, and JSON has no Infinity or NaN
// (JSON.stringify would quietly write null). The same rules as service-kit's findUnstorableJson, which refuses them
// in requests; the engine checks what its expressions made, which no request guard has seen.

/** A rendered value the run's tables could not hold: the round writing it would fail, again and again. */
export class UnstorableValueError extends Error {
  constructor(
    /** Dotted path of the value, from the field that was rendered (`with.title`, `output.list.2`). */
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}, which cannot be stored`);
    this.name = 'UnstorableValueError';
  }
}

const TEXT_PROBLEMS = { nul: 'holds U+0000', lone_surrogate: 'holds an unpaired UTF-16 surrogate' };

function textProblem(text: string): string | undefined {
  const problem = unstorableTextProblem(text);
  return problem && TEXT_PROBLEMS[problem];
}

/**
 * The first member of `value` (named from `field`) that PostgreSQL's jsonb could not store, or undefined. Iterative
 * (a rendered value may nest as deep as the expression language allows) and stops at the first problem.
 */
export function findUnstorableValue(value: unknown, field: string): UnstorableValueError | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: field }];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return new UnstorableValueError(path, `text ${problem}`);
      continue;
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return new UnstorableValueError(path, `the number ${String(v)} has no JSON form`);
      continue;
    }
    if (v === null || typeof v !== 'object' || v instanceof Date || seen.has(v)) continue;
    seen.add(v);
    const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((item, i) => [String(i), item]) : Object.entries(v as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i];
      const childPath = `${path}.${key}`;
      if (!Array.isArray(v)) {
        const problem = textProblem(key);
        if (problem) return new UnstorableValueError(`${path}.${storableText(key)}`, `a key ${problem}`);
      }
      stack.push({ value: item, path: childPath });
    }
  }
  return undefined;
}

/** Throws UnstorableValueError when `value` cannot be stored; returns it otherwise. */
export function assertStorable<T>(value: T, field: string): T {
  const problem = findUnstorableValue(value, field);
  if (problem) throw problem;
  return value;
}

/** `text` as the run's tables can hold it (contracts' storableText): for messages, never for data. */
export { storableText };

/**
 * An error as the run's tables can hold it: a message that quotes a rendered value (`sleep.until … is not a time: …`)
 * or an expression's own error may carry what the value did.
 */
export function storableError(error: StepError): StepError {
  const message = storableText(String(error.message));
  const code = storableText(String(error.code));
  return message === error.message && code === error.code ? error : { ...error, code, message };
}

/** The error a step (or the run, with no step) fails with when a value it rendered cannot be stored. */
export function unstorableError(error: UnstorableValueError, stepId?: string): StepError {
  return engineError(EngineErrorCode.ValueUnstorable, stepId === undefined ? error.message : `step ${stepId}: ${error.message}`);
}
