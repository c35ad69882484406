// rate_limit in delay mode (docs/events.md): the key's state stays bounded by `max` whatever the burst, the starts are
// scheduled exactly as the unbounded list of every queued start scheduled them, and no start is scheduled further
// ahead than the delay horizon (so no date leaves JavaScript's range, whatever the manifest's windows).
import fc from 'fast-check';
import { EventSkipReason } from '@pancha/contracts';
import { MAX_RATE_LIMIT_MAX, MAX_TRIGGER_WINDOW_MS, type TriggerSpec } from '@pancha/workflow-manifest';
import { applyFilters, DELAY_HORIZON_CAP_MS, delayHorizonMs, EMPTY_STATE, type FilterResult, type StatefulFilters, type TriggerState } from './filters';
import { compileTrigger } from './trigger';

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** JavaScript's last representable date (ms since the epoch). */
const LAST_DATE = 8.64e15;

/** Every event at `now` (a burst at one instant unless `at` says otherwise); the results and the largest state seen. */
function burst(filters: StatefulFilters, n: number, at: (i: number) => number = () => 0, from: TriggerState = EMPTY_STATE) {
  let state = from;
  let largest = 0;
  const results: { now: number; result: FilterResult }[] = [];
  for (let i = 0; i < n; i++) {
    const now = at(i);
    const next = applyFilters(filters, {}, state, now);
    state = next.state;
    largest = Math.max(largest, state.runs?.length ?? 0);
    results.push({ now, result: next.result });
  }
  return { results, state, largest };
}

/** When each event's start is made: at once (`run`) or at its `due_at` (deferred); skipped ones are left out. */
const startTimes = (results: { now: number; result: FilterResult }[]) =>
  results.flatMap(({ now, result }) => (result.outcome === 'run' ? [now] : result.outcome === 'deferred' ? [result.due_at] : []));

describe('rate_limit delay: the key\'s state is bounded by max', () => {
  it.each([
    [1, SECOND],
    [3, SECOND],
    [50, 10 * SECOND],
  ])('max %i per %i ms: a burst of 5,000 events leaves at most max start times in the state, after every event', (max, per) => {
    const { largest, state } = burst({ rate_limit: { max, per_ms: per, mode: 'delay' } }, 5000);
    expect(largest).toBeLessThanOrEqual(max);
    expect(state.runs).toHaveLength(max);
    // Its size no longer grows with the burst: a few bytes per start of the window.
    expect(JSON.stringify(state).length).toBeLessThan(40 + 16 * max);
  });

  it('max 1000 (the most the validator accepts): the state holds at most 1,000 times through a burst of 5,000', () => {
    const { largest } = burst({ rate_limit: { max: MAX_RATE_LIMIT_MAX, per_ms: SECOND, mode: 'delay' } }, 5000);
    expect(largest).toBe(MAX_RATE_LIMIT_MAX);
  });

  it('a state an earlier Core stored with every queued start is cut to the latest max by the next event', () => {
    // A burst of 10 at 2 per second, as it was stored: 0, 0, 1 s, 1 s, … 4 s, 4 s.
    const legacy: TriggerState = { seq: 10, runs: Array.from({ length: 10 }, (_, i) => Math.floor(i / 2) * SECOND) };
    const next = applyFilters({ rate_limit: { max: 2, per_ms: SECOND, mode: 'delay' } }, {}, legacy, 0);
    // The next free slot is the one the full list gave: a window after the second-to-last queued start.
    expect(next.result).toEqual({ outcome: 'deferred', reason: EventSkipReason.RateLimited, due_at: 5 * SECOND });
    expect(next.state.runs).toEqual([4 * SECOND, 5 * SECOND]);
  });
});

describe('rate_limit delay: the starts of a burst', () => {
  it.each([
    [1, SECOND, 100],
    [3, SECOND, 300],
    [7, 5 * 60_000, 700],
    [100, HOUR, 2400],
  ])('max %i per %i ms, %i events at one instant: max at once, then max per window, each as soon as a slot frees', (max, per, n) => {
    const { results } = burst({ rate_limit: { max, per_ms: per, mode: 'delay' } }, n);
    // Every event of a burst this size is within the horizon: none is lost.
    expect(results.every(({ result }) => result.outcome !== 'skipped')).toBe(true);
    // The first max run at once; the others are deferred.
    expect(results.slice(0, max).map(({ result }) => result.outcome)).toEqual(Array(max).fill('run'));
    expect(results.slice(max).every(({ result }) => result.outcome === 'deferred' && result.reason === EventSkipReason.RateLimited)).toBe(true);
    const starts = startTimes(results);
    // In the order the events came, never earlier than the one before.
    expect(starts.findIndex((t, i) => i > 0 && t < starts[i - 1])).toBe(-1);
    // Every window of length per holds at most max starts, and no slot is left empty: the start max places later is
    // exactly one window later, so the k-th start (from 0) is at floor(k / max) windows.
    expect(starts.findIndex((t, i) => i >= max && t - starts[i - max] !== per)).toBe(-1);
    expect(starts).toEqual(starts.map((_, k) => Math.floor(k / max) * per));
  });

  it('events spread over time take the free slots as the window slides, as before', () => {
    const f: StatefulFilters = { rate_limit: { max: 2, per_ms: 1000, mode: 'delay' } };
    const { results } = burst(f, 7, (i) => [0, 10, 20, 30, 1500, 4000, 4001][i]);
    expect(results.map(({ result }) => (result.outcome === 'deferred' ? result.due_at : result.outcome))).toEqual([
      'run',
      'run',
      1000, // the slot of 0
      1010, // the slot of 10
      2000, // after the queued 1000 has had its window
      'run', // the window is empty again
      'run',
    ]);
  });
});

/**
 * The rate_limit (and debounce) decisions as Core made them before the state was bounded: every start time of the
 * window kept, the queued ones included. Only the horizon is new, checked in the same place as the real code does.
 */
function unboundedModel(filters: StatefulFilters, times: number[]): string[] {
  const { max, per_ms, mode } = filters.rate_limit!;
  const quiet = filters.debounce?.quiet_ms;
  let runs: number[] = [];
  let pending: number | undefined;
  return times.map((now) => {
    const at = quiet !== undefined ? now + quiet : now;
    const live = runs.filter((t) => t + per_ms > at).sort((a, b) => a - b);
    let mine = live;
    if (quiet !== undefined && pending !== undefined && pending > now && live.includes(pending)) {
      const i = live.indexOf(pending);
      mine = [...live.slice(0, i), ...live.slice(i + 1)];
    }
    let due = now;
    if (mine.length >= max) {
      if (mode === 'drop') {
        runs = live;
        return 'rate_limited';
      }
      due = mine[mine.length - max] + per_ms;
      if (due - now > delayHorizonMs(per_ms)) {
        runs = live;
        return 'rate_limited';
      }
    }
    const fires = quiet !== undefined ? Math.max(due, now + quiet) : due;
    runs = [...mine, fires];
    if (quiet !== undefined) {
      pending = fires;
      return `debounced@${fires}`;
    }
    return due > now ? `rate_limited@${due}` : 'run';
  });
}

const outcome = (r: FilterResult) => (r.outcome === 'run' ? 'run' : r.outcome === 'skipped' ? r.reason : `${r.reason}@${r.due_at}`);

describe('rate_limit: the bounded state decides as the unbounded list did (property)', () => {
  it('for any max, per, mode, debounce and arrival times of one key', () => {
    const filtersArb = fc.record({
      max: fc.integer({ min: 1, max: 5 }),
      per: fc.integer({ min: 1, max: 100 }),
      mode: fc.constantFrom<'drop' | 'delay'>('drop', 'delay'),
      quiet: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
    });
    // Mostly bursts (gap 0), so queues build up to the horizon, with pauses that let windows slide.
    const gapsArb = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }) }), { maxLength: 700 });
    fc.assert(
      fc.property(filtersArb, gapsArb, ({ max, per, mode, quiet }, gaps) => {
        const filters: StatefulFilters = { rate_limit: { max, per_ms: per, mode }, ...(quiet ? { debounce: { quiet_ms: quiet } } : {}) };
        let now = 0;
        const times = gaps.map((gap) => (now += gap));
        let state: TriggerState = EMPTY_STATE;
        const actual = times.map((t) => {
          const next = applyFilters(filters, {}, state, t);
          state = next.state;
          // With debounce the key's pending start, which the next event takes back, is kept beside the max others.
          expect(state.runs?.length ?? 0).toBeLessThanOrEqual(max + (quiet ? 1 : 0));
          return outcome(next.result);
        });
        expect(actual).toEqual(unboundedModel(filters, times));
      }),
      { numRuns: 300, seed: 20261202 },
    );
  });
});

describe('rate_limit delay: how far ahead a start may be scheduled', () => {
  it('the horizon: 100 windows, at most 24 h, at least one window', () => {
    expect(delayHorizonMs(SECOND)).toBe(100 * SECOND);
    expect(delayHorizonMs(5 * 60_000)).toBe(500 * 60_000);
    expect(delayHorizonMs(14.4 * 60_000)).toBe(DELAY_HORIZON_CAP_MS);
    expect(delayHorizonMs(HOUR)).toBe(24 * HOUR);
    expect(delayHorizonMs(DAY)).toBe(DAY);
    expect(delayHorizonMs(7 * DAY)).toBe(7 * DAY);
    expect(delayHorizonMs(MAX_TRIGGER_WINDOW_MS)).toBe(MAX_TRIGGER_WINDOW_MS);
  });

  it('per 365d, max 1: the next year\'s slot is taken, the events after it are rate_limited, naming the horizon', () => {
    const { results, state } = burst({ rate_limit: { max: 1, per_ms: MAX_TRIGGER_WINDOW_MS, mode: 'delay' } }, 1000, (i) => i);
    expect(results[0].result).toEqual({ outcome: 'run' });
    expect(results[1].result).toEqual({ outcome: 'deferred', reason: EventSkipReason.RateLimited, due_at: MAX_TRIGGER_WINDOW_MS });
    for (const { result } of results.slice(2)) {
      expect(result).toMatchObject({ outcome: 'skipped', reason: EventSkipReason.RateLimited });
    }
    expect((results[999].result as { detail: string }).detail).toBe(
      '1 run per 365d already started or waiting for this key; the next free slot is 729d23h59m59s1ms away, further than delay mode schedules a start (365d ahead for per 365d)',
    );
    // A skipped event takes no slot: the state still holds the one queued start.
    expect(state.runs).toEqual([MAX_TRIGGER_WINDOW_MS]);
  });

  it('per 1s, max 2: a burst queues 100 windows of starts (200), the rest are dropped; a slot freed is taken again', () => {
    const f: StatefulFilters = { rate_limit: { max: 2, per_ms: SECOND, mode: 'delay' } };
    const { results, state } = burst(f, 1000);
    const count = (o: string) => results.filter(({ result }) => result.outcome === o).length;
    expect([count('run'), count('deferred'), count('skipped')]).toEqual([2, 200, 798]);
    expect(Math.max(...startTimes(results))).toBe(100 * SECOND);
    // 50 s later, 50 windows have gone by: the next start goes after the last queued one, 51 s ahead.
    const later = applyFilters(f, {}, state, 50 * SECOND);
    expect(later.result).toEqual({ outcome: 'deferred', reason: EventSkipReason.RateLimited, due_at: 101 * SECOND });
  });

  it('never schedules further than the horizon, nor past JavaScript\'s dates, for the longest windows the validator accepts', () => {
    for (const max of [1, MAX_RATE_LIMIT_MAX]) {
      for (const debounce of [undefined, { quiet_ms: MAX_TRIGGER_WINDOW_MS }]) {
        const f: StatefulFilters = { rate_limit: { max, per_ms: MAX_TRIGGER_WINDOW_MS, mode: 'delay' }, ...(debounce ? { debounce } : {}) };
        const now0 = Date.UTC(2026, 11, 2);
        const { results } = burst(f, 2500, (i) => now0 + i * 1000);
        const deferred = results.flatMap(({ now, result }) => (result.outcome === 'deferred' ? [{ now, due: result.due_at }] : []));
        expect(deferred.length).toBeGreaterThan(0);
        expect(deferred.filter(({ now, due }) => due - now > MAX_TRIGGER_WINDOW_MS)).toEqual([]);
        // What Core does with each: it stores and answers the ISO time.
        expect(() => deferred.forEach(({ due }) => new Date(due).toISOString())).not.toThrow();
      }
    }
  });

  it('a queued start an earlier Core stored near the last date gives a rate_limited skip, not a date out of range', () => {
    const legacy: TriggerState = { seq: 270_000, runs: [LAST_DATE - 1000] };
    const next = applyFilters({ rate_limit: { max: 1, per_ms: MAX_TRIGGER_WINDOW_MS, mode: 'delay' } }, {}, legacy, Date.UTC(2026, 11, 2));
    expect(next.result).toMatchObject({ outcome: 'skipped', reason: EventSkipReason.RateLimited });
    expect(next.state.runs).toEqual([LAST_DATE - 1000]);
  });
});

describe('dates from the other windows', () => {
  it('dedup and debounce at the longest window end within JavaScript\'s dates; the duplicate\'s detail shows the end', () => {
    const now = Date.UTC(2026, 11, 2);
    const dedup = applyFilters({ dedup: { window_ms: MAX_TRIGGER_WINDOW_MS } }, {}, EMPTY_STATE, now);
    expect(applyFilters({ dedup: { window_ms: MAX_TRIGGER_WINDOW_MS } }, {}, dedup.state, now + 1).result).toMatchObject({
      reason: EventSkipReason.Duplicate,
      detail: 'same key within 365d (until 2027-12-02T00:00:00.000Z)',
    });
    const quiet = applyFilters({ debounce: { quiet_ms: MAX_TRIGGER_WINDOW_MS } }, {}, EMPTY_STATE, now).result;
    expect(quiet).toEqual({ outcome: 'deferred', reason: EventSkipReason.Debounced, due_at: now + MAX_TRIGGER_WINDOW_MS });
  });

  it('a dedup end an earlier Core stored past the last date (a window the validator now refuses) still gives a duplicate, not a throw', () => {
    const legacy: TriggerState = { seq: 1, dedup_until: LAST_DATE + DAY };
    const next = applyFilters({ dedup: { window_ms: HOUR } }, {}, legacy, Date.UTC(2026, 11, 2));
    expect(next.result).toEqual({ outcome: 'skipped', reason: EventSkipReason.Duplicate, detail: `same key within 1h (until ${LAST_DATE + DAY} ms after 1970)` });
  });
});

describe('compileTrigger: a trigger the validator would refuse (a stale catalog mirror) is not compiled', () => {
  const spec = (extra: Partial<TriggerSpec>): TriggerSpec => ({ name: 't', event: 'x', inputs: {}, ...extra }) as TriggerSpec;
  it.each([
    ['rate_limit.per', { rate_limit: { max: 1, per_ms: MAX_TRIGGER_WINDOW_MS + 1, mode: 'delay' } }],
    ['rate_limit.per', { rate_limit: { max: 1, per_ms: 0, mode: 'drop' } }],
    ['rate_limit.max', { rate_limit: { max: MAX_RATE_LIMIT_MAX + 1, per_ms: SECOND, mode: 'delay' } }],
    ['rate_limit.max', { rate_limit: { max: 0, per_ms: SECOND, mode: 'delay' } }],
    ['dedup.window', { dedup: { window_ms: 1e17 } }],
    ['debounce.quiet', { debounce: { quiet_ms: Number.NaN } }],
  ] as [string, Partial<TriggerSpec>][])('%s out of range', (field, extra) => {
    expect(() => compileTrigger('w', '1.0.0', true, spec(extra))).toThrow(new RegExp(`^${field.replace('.', '\\.')} `));
  });

  it('the longest windows and the largest max compile', () => {
    const longest = spec({
      rate_limit: { max: MAX_RATE_LIMIT_MAX, per_ms: MAX_TRIGGER_WINDOW_MS, mode: 'delay' },
      dedup: { window_ms: MAX_TRIGGER_WINDOW_MS },
      debounce: { quiet_ms: MAX_TRIGGER_WINDOW_MS },
    });
    expect(compileTrigger('w', '1.0.0', true, longest).filters.rate_limit).toEqual(longest.rate_limit);
  });
});
