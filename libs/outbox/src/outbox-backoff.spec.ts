import fc from 'fast-check';
import { computeBackoffMs } from './outbox-backoff';

describe('computeBackoffMs', () => {
  const options = { baseMs: 200, maxMs: 30_000 };

  it('spans [0, base * 2^attempt] below the cap: lowest and highest draws', () => {
    expect(computeBackoffMs(0, options, () => 0)).toBe(0);
    expect(computeBackoffMs(0, options, () => 0.999999)).toBe(199);
    expect(computeBackoffMs(3, options, () => 0.5)).toBe(800);
    expect(computeBackoffMs(3, options, () => 0.999999)).toBe(1599);
  });

  it('never exceeds the cap, however many attempts', () => {
    expect(computeBackoffMs(50, options, () => 0.999999)).toBeLessThanOrEqual(30_000);
    expect(computeBackoffMs(10_000, options, () => 1)).toBe(30_000);
    expect(computeBackoffMs(10_000, { baseMs: 0, maxMs: 100 }, () => 0.5)).toBe(0);
  });

  it('grows with attempts until the cap (same draw)', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((a) => computeBackoffMs(a, options, () => 0.75));
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]);
    expect(delays[1]).toBeGreaterThan(delays[0]);
    expect(delays[8]).toBe(Math.floor(0.75 * 30_000));
  });

  it('is full jitter: any draw lands in [0, min(cap, base * 2^attempt)]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, baseMs, extra, draw) => {
          const maxMs = baseMs + extra;
          const delay = computeBackoffMs(attempt, { baseMs, maxMs }, () => draw);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 52)));
        },
      ),
    );
  });

  it('uses Math.random by default and stays in bounds', () => {
    for (let i = 0; i < 100; i++) {
      const delay = computeBackoffMs(2, options);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(800);
    }
  });
});
