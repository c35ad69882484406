import { parseTimestamp } from '@pancha/contracts';

/**
 * The WHERE conditions of a list query and their parameters, numbered $1, $2, … in the order they are added. Times
 * go to PostgreSQL as the instant parseTimestamp reads (`timestampParam`), never as the caller's text.
 */
export class SqlConditions {
  readonly params: unknown[] = [];
  private readonly conditions: string[];

  /** `fixed`: conditions without parameters that every query of the caller has. */
  constructor(...fixed: string[]) {
    this.conditions = [...fixed];
  }

  /** The next parameter's placeholder, for `value` (a LIMIT after the conditions, say). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** `sql` with its `?` standing for `value`. */
  add(sql: string, value: unknown): this {
    this.conditions.push(sql.replace('?', this.param(value)));
    return this;
  }

  /** `column = value` for each of `columns` that has a value in `values` (the same name); empty ones filter nothing. */
  equal<T extends object>(values: T, columns: ReadonlyArray<keyof T & string>): this {
    for (const column of columns) if (values[column]) this.add(`${column} = ?`, values[column]);
    return this;
  }

  /** `column` at or after `since` and before `until` (each a timestamp parseTimestamp takes), when given. */
  between(column: string, since: string | undefined, until: string | undefined): this {
    if (since) this.add(`${column} >= ?`, timestampParam(since));
    if (until) this.add(`${column} < ?`, timestampParam(until));
    return this;
  }

  /** `column = ANY(values)`, unless `values` is undefined (no restriction). */
  anyOf(column: string, values: readonly string[] | undefined): this {
    if (values) this.add(`${column} = ANY(?)`, values);
    return this;
  }

  /** Rows after `position` in `ORDER BY time DESC, id DESC`: (time, id) < (position), when given. */
  before(time: string, id: string, position: readonly [time: string, id: string] | undefined): this {
    if (!position) return this;
    const at = this.param(timestampParam(position[0]));
    this.conditions.push(`(${time}, ${id}) < (${at}::timestamptz, ${this.param(position[1])}::uuid)`);
    return this;
  }

  /** `WHERE a AND b …`, or '' without conditions. */
  where(): string {
    return this.conditions.length ? `WHERE ${this.conditions.join(' AND ')}` : '';
  }
}

/**
 * The instant parseTimestamp reads in `text`, as UTC ISO 8601 text with microseconds (PostgreSQL's precision): what
 * to hand PostgreSQL instead of the text, which it would read in the session's time zone when it has no offset
 * (parseTimestamp reads UTC). Throws on text parseTimestamp refuses: callers validate first.
 */
export function timestampParam(text: string): string {
  const at = parseTimestamp(text);
  if (!at) throw new TypeError(`not a timestamp: ${JSON.stringify(text)}`);
  // The Date keeps the fraction's first three digits. parseTimestamp judged years 0001–9999 on the fraction rounded to
  // microseconds half up on its seventh digit: the same rounding here, so the instant is the one it accepted, never
  // year 10000 (which toISOString writes as +010000-…, text PostgreSQL refuses). PostgreSQL itself, reading text,
  // rounds half to even (.0000025 → 2 µs): a half-microsecond tie can land one microsecond apart from its reading.
  const fraction = /\.(\d+)/.exec(text)?.[1] ?? '';
  const wholeMs = at.getTime() - Number(`${fraction}000`.slice(0, 3));
  const us = BigInt(wholeMs) * 1000n + BigInt(Math.round(Number(`${fraction}0000000`.slice(0, 7)) / 10));
  const subMs = ((us % 1000n) + 1000n) % 1000n;
  return new Date(Number((us - subMs) / 1000n)).toISOString().replace('Z', `${String(subMs).padStart(3, '0')}Z`);
}
