/**
 * Checks of JSON a server answered, for the client boundary (core-answers.ts holds one per answer of Core's). A check
 * tells whether a value has the shape a command reads and returns that same value, typed: nothing is copied and
 * fields it does not name are kept, so `--json` still prints the answer as it came. A mismatch names where it is
 * (`workflows[0].versions`), what was expected there and what was found, in one line.
 */

/** A value that is not the shape expected. */
export class ShapeMismatch extends Error {
  constructor(
    /** Where in the answer: `workflows[0].name`, or '' for the answer itself. */
    readonly at: string,
    readonly expected: string,
  ) {
    super(`${at ? `${at}: ` : ''}expected ${expected}`);
  }
}

/** Checks `value` (found at `at`) and returns it typed, or throws a ShapeMismatch. */
export type Check<T> = (value: unknown, at: string) => T;

/** A field its object may leave out. */
export type OptionalCheck<T> = Check<T | undefined> & { readonly optional: true };

type Fields = Record<string, Check<unknown>>;
type Out<C> = C extends Check<infer T> ? T : never;
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends { optional: true } ? K : never }[keyof F];
type Flat<T> = { [K in keyof T]: T[K] } & {};
/** What `object(fields)` returns: each field typed by its check, those with an optional check optional. */
export type Checked<F extends Fields> = Flat<{ [K in Exclude<keyof F, OptionalKeys<F>>]: Out<F[K]> } & { [K in OptionalKeys<F>]?: Exclude<Out<F[K]>, undefined> }>;

/** The type a check returns. */
export type Shape<C> = Out<C>;

const got = (value: unknown, at: string, expected: string): never => {
  throw new ShapeMismatch(at, `${expected}, got ${describe(value)}`);
};

export const string: Check<string> = (v, at) => (typeof v === 'string' ? v : got(v, at, 'a string'));
export const number: Check<number> = (v, at) => (typeof v === 'number' && Number.isFinite(v) ? v : got(v, at, 'a number'));
export const boolean: Check<boolean> = (v, at) => (typeof v === 'boolean' ? v : got(v, at, 'true or false'));
/** Anything (a JSON Schema, a payload): the command prints it as JSON whatever it is. */
export const anything: Check<unknown> = (v) => v;

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, at) => (v === null ? null : check(v, at));
}

export function optional<T>(check: Check<T>): OptionalCheck<T> {
  return Object.assign((v: unknown, at: string) => (v === undefined ? undefined : check(v, at)), { optional: true as const });
}

export function arrayOf<T>(item: Check<T>): Check<T[]> {
  return (v, at) => {
    if (!Array.isArray(v)) return got(v, at, 'an array');
    v.forEach((x, i) => item(x, `${at}[${i}]`));
    return v as T[];
  };
}

/** A map of any keys to values of one shape (runs by status). */
export function recordOf<T>(value: Check<T>): Check<Record<string, T>> {
  return (v, at) => {
    if (!isPlainObject(v)) return got(v, at, 'an object');
    for (const [k, x] of Object.entries(v)) value(x, join(at, k));
    return v as Record<string, T>;
  };
}

/** An object with (at least) these fields: others it has are kept as they are. */
export function object<F extends Fields>(fields: F): Check<Checked<F>> {
  return (v, at) => {
    if (!isPlainObject(v)) return got(v, at, 'an object');
    // Own fields only: `constructor` of a parsed `{}` is no field of the answer.
    for (const [key, check] of Object.entries(fields)) check(Object.hasOwn(v, key) ? v[key] : undefined, join(at, key));
    return v as Checked<F>;
  };
}

/** One of these strings. */
export function oneOf<const S extends string>(...values: S[]): Check<S> {
  return (v, at) => ((values as unknown[]).includes(v) ? (v as S) : got(v, at, `one of ${values.join(', ')}`));
}

/** A check defined later (a shape that holds itself: steps in steps). */
export function lazy<T>(check: () => Check<T>): Check<T> {
  return (v, at) => check()(v, at);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function join(at: string, key: string): string {
  return /^[A-Za-z_][\w]*$/.test(key) ? (at ? `${at}.${key}` : key) : `${at}[${JSON.stringify(key)}]`;
}

/** JSON of a value, cut to `max` characters, with nothing in it a terminal acts on (one line, no escape sequences). */
export function excerpt(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  text = printable(text);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Text a server sent, as one line with nothing in it a terminal acts on: control characters and line separators escaped (`\\u000a`). */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What was found instead: `nothing`, `null`, `a string "text"`, `an array []`, `an object {"hello":"world"}`. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array ${excerpt(value, 40)}`;
  switch (typeof value) {
    case 'string':
      return `a string ${excerpt(value, 40)}`;
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'object':
      return `an object ${excerpt(value, 40)}`;
    default:
      return typeof value;
  }
}
