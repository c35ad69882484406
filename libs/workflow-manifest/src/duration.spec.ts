import fc from 'fast-check';
import { DurationError, formatDuration, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['2d', 172_800_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['1.5h', 5_400_000],
    ['0', 0],
    [' 5s ', 5_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('takes a number as milliseconds', () => {
    expect(parseDuration(1500)).toBe(1500);
    expect(parseDuration(0)).toBe(0);
  });

  it.each([
    ['', /empty/],
    ['30', /has no unit/],
    ['5 s', /invalid duration/],
    ['5sec', /invalid duration/],
    ['1w', /invalid duration/],
    ['-5s', /invalid duration/],
    ['1h1h', /appears twice/],
    ['h', /invalid duration/],
  ])('refuses %j with a clear message', (text, message) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
    expect(() => parseDuration(text)).toThrow(message);
  });

  it('refuses negative, infinite and absurd numbers', () => {
    expect(() => parseDuration(-1)).toThrow(DurationError);
    expect(() => parseDuration(Number.POSITIVE_INFINITY)).toThrow(DurationError);
    expect(() => parseDuration('99999999999999999d')).toThrow(/too long/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [5_400_000, '1h30m'],
    [93_784_005, '1d2h3m4s5ms'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });
});
