import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { transformSync } from '@swc/core';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IsTimestamp, parseTimestamp } from './timestamp';

describe('parseTimestamp', () => {
  it.each([
    ['2026-11-28T10:00:00Z', '2026-11-28T10:00:00.000Z'],
    ['2026-11-28T10:00:00.123456+05:30', '2026-11-28T04:30:00.123Z'],
    ['2026-11-28', '2026-11-28T00:00:00.000Z'],
    ['2026-11-28 10:00:00.123456+00', '2026-11-28T10:00:00.123Z'], // PostgreSQL's text form, as cursors carry it
    ['2026-11-28 10:00:00+00', '2026-11-28T10:00:00.000Z'], // the same at a whole second
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59Z', '9999-12-31T23:59:59.000Z'],
    // Offsets near the range ends: judged in UTC.
    ['9999-12-31T18:59:59-05:00', '9999-12-31T23:59:59.000Z'],
    ['0001-01-01T00:00:00-01:00', '0001-01-01T01:00:00.000Z'],
    ['0001-01-01 00:00:00.5-05:00', '0001-01-01T05:00:00.500Z'],
    ['9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.999Z'], // PostgreSQL keeps .999999, still 9999
    ['9999-12-31T23:59:59.99999949Z', '9999-12-31T23:59:59.999Z'], // rounds down to .999999 there
    // PostgreSQL's text form of an early year (Date alone reads 0050 there as 1950).
    ['0050-01-01 00:00:00+00', '0050-01-01T00:00:00.000Z'],
    // ±hh offsets in both forms (Date alone took only the one with a space).
    ['2026-11-28T10:00:00-03', '2026-11-28T13:00:00.000Z'],
    ['2026-11-28 10:00:00-03', '2026-11-28T13:00:00.000Z'],
    ['2026-11-28T10:00+0530', '2026-11-28T04:30:00.000Z'],
    ['2026-11-28T12:00:00+15:59', '2026-11-27T20:01:00.000Z'], // the largest offset PostgreSQL takes
    ['2026-11-28T24:00Z', '2026-11-29T00:00:00.000Z'], // the next midnight, as PostgreSQL reads it
    ['2024-02-29T10:00:00z', '2024-02-29T10:00:00.000Z'],
  ])('takes %s', (text, iso) => {
    expect(parseTimestamp(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '2026-02-30', '2026-02-30T10:00:00Z', '2025-02-29', '0000-01-01T00:00:00Z', '-010000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z',
    '0001-01-01T00:00:00+01:00', 'yesterday', '1764000000000', '', 20261128, null,
    // Year 10000 in UTC (PostgreSQL would store it; Date prints it as +010000-…, which no caller reads back).
    '9999-12-31T23:59:59-05:00', '9999-12-31 20:00:00-04', '9999-12-31T24:00:00Z',
    // Rounded to microseconds, as PostgreSQL stores the text, these are year 10000.
    '9999-12-31T23:59:59.9999995Z', '9999-12-31 23:59:59.99999999+00',
    // Offsets PostgreSQL refuses ("time zone displacement out of range": a 500 where a caller hands it the text).
    '2026-11-28T12:00:00+16:00', '2026-11-28T12:00:00-23:59', '2026-11-28 12:00:00+23:00',
    // Times that are no time.
    '2026-11-28T24:00:01Z', '2026-11-28T24:00:00.001Z', '2026-11-28T12:00:60Z', '2026-11-28T12:60:00Z', '2026-11-28T25:00:00Z', '2026-11-28T12:00:00+05:60',
  ])('refuses %s, which JavaScript may read but a caller could not store or print', (text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });

  it('reads a time without offset as UTC, whatever the process\'s time zone (as a date alone is read)', () => {
    // The time zone is the process's: the parser runs in a child with TZ set (this module compiled as Jest compiles it).
    const source = transformSync(readFileSync(join(__dirname, 'timestamp.ts'), 'utf8'), {
      filename: 'timestamp.ts',
      module: { type: 'commonjs' },
      jsc: { parser: { syntax: 'typescript', decorators: true }, target: 'es2022' },
    }).code;
    const script = `const m = { exports: {} }; new Function('module', 'exports', 'require', process.argv[1])(m, m.exports, require);
      console.log(JSON.stringify([new Date(2026, 0, 1).getTimezoneOffset(), ...process.argv.slice(2).map((t) => m.exports.parseTimestamp(t)?.toISOString() ?? null)]));`;
    const run = (tz: string, ...texts: string[]) =>
      JSON.parse(execFileSync(process.execPath, ['-e', script, source, ...texts], { env: { ...process.env, TZ: tz }, cwd: join(__dirname, '..', '..', '..', '..') }).toString());
    expect(run('America/New_York', '2026-01-01T00:00:00', '9999-12-31T23:59:59', '2026-01-01 10:00:00')).toEqual([
      300, '2026-01-01T00:00:00.000Z', '9999-12-31T23:59:59.000Z', '2026-01-01T10:00:00.000Z',
    ]);
    expect(run('Asia/Kolkata', '0001-01-01T00:00:00', '2026-01-01T00:00')).toEqual([-330, '0001-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
  });

  it('accepts only what lies in years 0001–9999 UTC, to the microsecond, whatever the offset (and prints it in four digits)', () => {
    const two = (n: number) => String(n).padStart(2, '0');
    const text = fc
      .record({
        year: fc.oneof(fc.constantFrom(1, 2, 9998, 9999), fc.integer({ min: 1, max: 9999 })),
        month: fc.integer({ min: 1, max: 12 }),
        day: fc.integer({ min: 1, max: 28 }),
        hour: fc.integer({ min: 0, max: 23 }),
        minute: fc.integer({ min: 0, max: 59 }),
        second: fc.integer({ min: 0, max: 59 }),
        fraction: fc.option(fc.stringMatching(/^\d{1,9}$/), { nil: undefined }),
        offset: fc.option(fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), { nil: undefined }),
        space: fc.boolean(),
      })
      .map((t) => {
        const zone = t.offset === undefined ? 'Z' : `${t.offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(t.offset) / 60))}:${two(Math.abs(t.offset) % 60)}`;
        const text = `${String(t.year).padStart(4, '0')}-${two(t.month)}-${two(t.day)}${t.space ? ' ' : 'T'}${two(t.hour)}:${two(t.minute)}:${two(t.second)}${t.fraction ? `.${t.fraction}` : ''}${zone}`;
        // The instant PostgreSQL stores, in microseconds (BigInt: exact): fields in UTC, minus the offset, fraction rounded.
        const day = new Date(0);
        day.setUTCFullYear(t.year, t.month - 1, t.day);
        const seconds = BigInt(day.getTime() / 1000 + t.hour * 3600 + t.minute * 60 + t.second - (t.offset ?? 0) * 60);
        const micros = BigInt(Math.round(Number(`${t.fraction ?? ''}0000000`.slice(0, 7)) / 10));
        return { text, stored: seconds * 1_000_000n + micros, offset: t.offset };
      });
    const first = BigInt(Date.parse('0001-01-01T00:00:00Z')) * 1000n;
    const end = BigInt(Date.parse('9999-12-31T23:59:59Z') + 1000) * 1000n;
    fc.assert(
      fc.property(text, ({ text, stored, offset }) => {
        const date = parseTimestamp(text);
        const storable = stored >= first && stored < end && Math.abs(offset ?? 0) <= 15 * 60 + 59;
        expect(date !== undefined).toBe(storable);
        if (date) {
          expect(date.toISOString()).toMatch(/^\d{4}-/);
          expect(BigInt(date.getTime()) * 1000n <= stored && stored - BigInt(date.getTime()) * 1000n <= 1000n).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('IsTimestamp names the property and the rule', () => {
    class Query {
      @IsTimestamp() since?: string;
    }
    const errors = validateSync(plainToInstance(Query, { since: '2026-02-30' }));
    expect(errors[0].constraints).toEqual({ isTimestamp: 'since must be an ISO 8601 timestamp of a real date between years 0001 and 9999' });
    expect(validateSync(plainToInstance(Query, { since: '2026-02-28T00:00:00Z' }))).toEqual([]);
  });
});
