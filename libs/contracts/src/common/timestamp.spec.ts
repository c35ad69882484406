import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { IsTimestamp, parseTimestamp } from './timestamp';

describe('parseTimestamp', () => {
  it.each([
    ['2026-11-28T10:00:00Z', '2026-11-28T10:00:00.000Z'],
    ['2026-11-28T10:00:00.123456+05:30', '2026-11-28T04:30:00.123Z'],
    ['2026-11-28', '2026-11-28T00:00:00.000Z'],
    ['2026-11-28 10:00:00.123456+00', '2026-11-28T10:00:00.123Z'], // PostgreSQL's text form, as cursors carry it
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59Z', '9999-12-31T23:59:59.000Z'],
  ])('takes %s', (text, iso) => {
    expect(parseTimestamp(text)?.toISOString()).toBe(iso);
  });

  it.each(['2026-02-30', '2026-02-30T10:00:00Z', '2025-02-29', '0000-01-01T00:00:00Z', '-010000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '0001-01-01T00:00:00+01:00', '0050-01-01 00:00:00+00', 'yesterday', '1764000000000', '', 20261128, null])(
    'refuses %s, which JavaScript may read but PostgreSQL would not store',
    (text) => {
      expect(parseTimestamp(text)).toBeUndefined();
    },
  );

  it('IsTimestamp names the property and the rule', () => {
    class Query {
      @IsTimestamp() since?: string;
    }
    const errors = validateSync(plainToInstance(Query, { since: '2026-02-30' }));
    expect(errors[0].constraints).toEqual({ isTimestamp: 'since must be an ISO 8601 timestamp of a real date between years 0001 and 9999' });
    expect(validateSync(plainToInstance(Query, { since: '2026-02-28T00:00:00Z' }))).toEqual([]);
  });
});
