import { isISO8601, ValidateBy, type ValidationOptions } from 'class-validator';

/** The years a timestamp may name: PostgreSQL has no year 0, and JavaScript reaches ±275,760 where PostgreSQL stops. */
const FIRST_YEAR = 1;
const LAST_YEAR = 9999;

export const TIMESTAMP_RULE = `an ISO 8601 timestamp of a real date between years ${String(FIRST_YEAR).padStart(4, '0')} and ${LAST_YEAR}`;

/**
 * `text` as an instant when it is an ISO 8601 timestamp of a real calendar date (no 2026-02-30) in years 0001–9999,
 * which PostgreSQL's timestamptz stores as written; otherwise undefined. JavaScript's Date alone takes both 2026-02-30
 * (as 2 March) and year 0, and PostgreSQL refuses them: a query or a row holding one would fail as a 500.
 */
export function parseTimestamp(text: unknown): Date | undefined {
  if (typeof text !== 'string' || !isISO8601(text)) return undefined;
  const calendar = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!calendar) return undefined;
  const [year, month, day] = calendar.slice(1).map(Number);
  // validator's own strict mode refuses years before 100, so the calendar is checked here.
  if (year < FIRST_YEAR || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  const date = new Date(text);
  const utcYear = date.getUTCFullYear();
  // Date reads '0050-01-01 00:00:00+00' (PostgreSQL's text form) as 1950: a year it moved is refused, not guessed.
  if (Number.isNaN(date.getTime()) || Math.abs(utcYear - year) > 1) return undefined;
  return utcYear < FIRST_YEAR || utcYear > LAST_YEAR ? undefined : date;
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
