import { parseTimestamp } from '@pancha/contracts';
import fc from 'fast-check';
import { SqlConditions, timestampParam } from './sql-conditions';

describe('SqlConditions', () => {
  it('numbers the parameters in the order the conditions take them, and a LIMIT after them', () => {
    const query = { workflow: 'wf', version: undefined, user_id: '', product: 'p1' };
    const conditions = new SqlConditions('reason IS NOT NULL')
      .add('delivery = ?', 'refused')
      .equal(query, ['workflow', 'version', 'user_id', 'product'])
      .anyOf('product', ['p1', 'p2']);
    const limit = conditions.param(51);
    expect(conditions.where()).toBe('WHERE reason IS NOT NULL AND delivery = $1 AND workflow = $2 AND product = $3 AND product = ANY($4)');
    expect(limit).toBe('$5');
    expect(conditions.params).toEqual(['refused', 'wf', 'p1', ['p1', 'p2'], 51]);
  });

  it('is no WHERE at all without conditions; absent filters, scope and position add nothing', () => {
    const conditions = new SqlConditions().equal({ workflow: undefined }, ['workflow']).between('created_at', undefined, undefined).anyOf('product', undefined).before('created_at', 'id', undefined);
    expect(conditions.where()).toBe('');
    expect(conditions.params).toEqual([]);
  });

  it('hands PostgreSQL the UTC instant of since and until, never the text: a time without offset is UTC', () => {
    const conditions = new SqlConditions().between('created_at', '2026-03-01T10:00:00', '2026-03-01T12:00:00+05:30');
    expect(conditions.where()).toBe('WHERE created_at >= $1 AND created_at < $2');
    expect(conditions.params).toEqual(['2026-03-01T10:00:00.000000Z', '2026-03-01T06:30:00.000000Z']);
  });

  it('pages after a (time, id) position, its time as an instant too', () => {
    const conditions = new SqlConditions().before('created_at', 'run_id', ['2026-03-01 15:30:00.123456+05:30', '3f0c8f7e-9a51-4d4e-8e1a-2b7c1d9e0a11']);
    expect(conditions.where()).toBe('WHERE (created_at, run_id) < ($1::timestamptz, $2::uuid)');
    expect(conditions.params).toEqual(['2026-03-01T10:00:00.123456Z', '3f0c8f7e-9a51-4d4e-8e1a-2b7c1d9e0a11']);
  });
});

describe('timestampParam', () => {
  it.each([
    ['2026-03-01', '2026-03-01T00:00:00.000000Z'],
    ['2026-03-01T10:00', '2026-03-01T10:00:00.000000Z'],
    ['2026-03-01 10:00:00.5', '2026-03-01T10:00:00.500000Z'],
    ['2026-03-01T10:00:00.123456Z', '2026-03-01T10:00:00.123456Z'],
    ['2026-03-01T10:00:00-03', '2026-03-01T13:00:00.000000Z'],
    ['2026-03-01T00:15:00+0130', '2026-02-28T22:45:00.000000Z'],
    ['2026-03-01T24:00', '2026-03-02T00:00:00.000000Z'],
    // Rounded to microseconds as parseTimestamp judges the range (half up on the seventh digit, the rest ignored),
    // carrying into the next second.
    ['2026-03-01T10:00:00.1234565Z', '2026-03-01T10:00:00.123457Z'],
    ['2026-03-01T10:00:00.1234575Z', '2026-03-01T10:00:00.123458Z'],
    ['2026-03-01T10:00:00.1234564999999999999Z', '2026-03-01T10:00:00.123456Z'],
    ['2026-03-01T10:00:00.00000050000001Z', '2026-03-01T10:00:00.000001Z'],
    ['2026-03-01T10:00:59.9999996Z', '2026-03-01T10:01:00.000000Z'],
    // The last microsecond parseTimestamp accepts stays in year 9999 (as a double, the fraction would round into 10000).
    ['9999-12-31T23:59:59.9999994999999999999Z', '9999-12-31T23:59:59.999999Z'],
    ['9999-12-31T18:59:59.9999994999999999999-05:00', '9999-12-31T23:59:59.999999Z'],
    // Before 1970 (a negative epoch) and a two-digit-century year.
    ['1969-12-31T23:59:59.999999Z', '1969-12-31T23:59:59.999999Z'],
    ['0050-06-01T00:00:00.000001', '0050-06-01T00:00:00.000001Z'],
  ])('reads %s as %s', (text, instant) => {
    expect(timestampParam(text)).toBe(instant);
  });

  it('refuses text parseTimestamp refuses', () => {
    expect(() => timestampParam('2026-02-30')).toThrow(TypeError);
    expect(() => timestampParam('9999-12-31T23:59:59.9999995Z')).toThrow(TypeError);
  });

  it('is, for every text parseTimestamp accepts, an instant it accepts too, in four-digit years, within its millisecond', () => {
    const two = (n: number) => String(n).padStart(2, '0');
    // Near both ends of the range, with fractions that round up (runs of 9) and long tails that doubles misread.
    const text = fc
      .record({
        date: fc.constantFrom('0001-01-01', '9999-12-31', '2026-03-01'),
        hour: fc.constantFrom(0, 12, 23),
        minute: fc.constantFrom(0, 59),
        second: fc.constantFrom(0, 59),
        fraction: fc.option(fc.tuple(fc.stringMatching(/^9{0,8}$/), fc.stringMatching(/^\d{0,14}$/)).map(([nines, rest]) => nines + rest), { nil: undefined }),
        offset: fc.option(fc.integer({ min: -(15 * 60 + 59), max: 15 * 60 + 59 }), { nil: undefined }),
      })
      .map((t) => {
        const zone = t.offset === undefined ? 'Z' : `${t.offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(t.offset) / 60))}:${two(Math.abs(t.offset) % 60)}`;
        return `${t.date}T${two(t.hour)}:${two(t.minute)}:${two(t.second)}${t.fraction ? `.${t.fraction}` : ''}${zone}`;
      });
    fc.assert(
      fc.property(text, (text) => {
        const read = parseTimestamp(text);
        if (!read) return;
        const param = timestampParam(text);
        expect(param).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
        expect(parseTimestamp(param)).toBeDefined();
        const us = BigInt(Date.parse(param)) * 1000n + BigInt(param.slice(23, 26));
        const ms = BigInt(read.getTime()) * 1000n;
        expect([text, us >= ms && us - ms <= 1000n]).toEqual([text, true]);
      }),
      { numRuns: 5000 },
    );
  });
});
