import { isISO8601, ValidateBy, type ValidationOptions } from 'class-validator';

/** The years a timestamp may name: PostgreSQL has no year 0, and JavaScript reaches ±275,760 where PostgreSQL stops. */
const FIRST_YEAR = 1;
const LAST_YEAR = 9999;

export const TIMESTAMP_RULE = `an ISO 8601 timestamp of a real date between years ${String(FIRST_YEAR).padStart(4, '0')} and ${LAST_YEAR}`;

/**
 * The forms taken (ISO 8601's extended forms, and PostgreSQL's own text form with a space, as page cursors carry it):
 * a date alone, or a date and hh:mm[:ss[.fraction]] with an optional Z or ±hh, ±hhmm, ±hh:mm offset.
 */
const FORM = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/** PostgreSQL refuses a UTC offset of 16 hours or more ("time zone displacement out of range"). */
const MAX_OFFSET_MINUTES = 15 * 60 + 59;

/** The first and last microsecond of years 0001–9999 UTC, as microseconds since the epoch. */
const FIRST_US = BigInt(utcMs(FIRST_YEAR, 1, 1, 0, 0, 0)) * 1000n;
const END_US = BigInt(utcMs(LAST_YEAR + 1, 1, 1, 0, 0, 0)) * 1000n;

/**
 * `text` as an instant when it is an ISO 8601 timestamp of a real calendar date (no 2026-02-30) that lies, in UTC, in
 * years 0001–9999; otherwise undefined. What every caller can store and print: PostgreSQL's timestamptz (which some
 * callers hand the text itself), a Date, and its toISOString() (four-digit years only).
 *
 * The text is read field by field, never by JavaScript's Date parser, whose answer depends on the form and the
 * machine (it takes 2026-02-30 as 2 March, year 0050 in PostgreSQL's text form as 1950, `T10:00-03` not at all and a
 * time without offset in the process's time zone). So:
 * - a time without an offset is UTC (as a date alone is), whatever the process's time zone;
 * - the range is judged in UTC after the offset (`9999-12-31T23:59:59-05:00` is year 10000: refused), and on the
 *   instant PostgreSQL would store, which rounds to microseconds (`9999-12-31T23:59:59.9999999Z` is year 10000 there);
 * - an offset is at most ±15:59, as in PostgreSQL; hour 24 only as 24:00 (the next midnight; validator refuses
 *   24:00:00), seconds up to 59.
 * The Date returned keeps milliseconds (the fraction beyond them is dropped, as Date does).
 */
export function parseTimestamp(text: unknown): Date | undefined {
  if (typeof text !== 'string' || !isISO8601(text)) return undefined;
  const m = FORM.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [m[1], m[2], m[3]].map(Number);
  if (year < FIRST_YEAR || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  const [hour, minute, second] = [m[4], m[5], m[6]].map((v) => (v === undefined ? 0 : Number(v)));
  const fraction = m[7] ?? '';
  if (minute > 59 || second > 59 || hour > 24 || (hour === 24 && (minute > 0 || second > 0 || /[1-9]/.test(fraction)))) return undefined;
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const [offsetHours, offsetMins] = [Number(m[10]), m[11] === undefined ? 0 : Number(m[11])];
    if (offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
    if (Math.abs(offsetMinutes) > MAX_OFFSET_MINUTES) return undefined;
  }
  const wholeMs = utcMs(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  // PostgreSQL rounds the fraction to microseconds (half up on the seventh digit), which may carry into the next second.
  const micros = Math.round(Number(`${fraction}0000000`.slice(0, 7)) / 10);
  const storedUs = BigInt(wholeMs) * 1000n + BigInt(micros);
  if (storedUs < FIRST_US || storedUs >= END_US) return undefined;
  return new Date(wholeMs + Number(`${fraction}000`.slice(0, 3)));
}

/** Milliseconds since the epoch of a UTC date and time; years 0–99 are those years (Date.UTC would read 1900–1999). */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
}

function daysIn(year: number, month: number): number {
  if (month !== 2) return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

/** A property holding a timestamp parseTimestamp accepts. */
export function IsTimestamp(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isTimestamp',
      validator: {
        validate: (value: unknown) => parseTimestamp(value) !== undefined,
        defaultMessage: () => `$property must be ${TIMESTAMP_RULE}`,
      },
    },
    options,
  );
}
