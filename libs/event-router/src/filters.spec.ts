import { EventSkipReason } from '@pancha/contracts';
import { applyFilters, EMPTY_STATE, type FilterResult, type FilterValues, type StatefulFilters, type TriggerState } from './filters';

/** Feeds events to one key's filters in order with a fake clock; returns each outcome (run / reason / deferred@t). */
function feed(filters: StatefulFilters, events: { at: number; values?: FilterValues }[]): string[] {
  let state: TriggerState = EMPTY_STATE;
  return events.map(({ at, values }) => {
    const next = applyFilters(filters, values ?? {}, state, at);
    state = next.state;
    return outcomeOf(next.result);
  });
}

function outcomeOf(result: FilterResult): string {
  if (result.outcome === 'run') return 'run';
  if (result.outcome === 'skipped') return result.reason;
  return `${result.reason}@${result.due_at}`;
}

const v = (threshold: number) => ({ threshold });
const d = (delta: number) => ({ delta });

describe('threshold', () => {
  it('on: every starts a run for each event beyond the line', () => {
    const f: StatefulFilters = { threshold: { field: 'x', above: 10, on: 'every' } };
    expect(feed(f, [5, 11, 12, 10, 20].map((x, i) => ({ at: i, values: v(x) })))).toEqual(['below_threshold', 'run', 'run', 'below_threshold', 'run']);
  });

  it('on: crossing starts a run only when the value moves across the line, not for every event above it', () => {
    const f: StatefulFilters = { threshold: { field: 'x', above: 10, on: 'crossing' } };
    expect(feed(f, [5, 11, 12, 10, 20, 30].map((x, i) => ({ at: i, values: v(x) })))).toEqual([
      'below_threshold',
      'run',
      'below_threshold',
      'below_threshold',
      'run',
      'below_threshold',
    ]);
  });

  it('the first event already beyond the line counts as a crossing; the line itself is not beyond it', () => {
    const f: StatefulFilters = { threshold: { field: 'x', below: 0.5, on: 'crossing' } };
    expect(feed(f, [0.4, 0.5, 0.49].map((x, i) => ({ at: i, values: v(x) })))).toEqual(['run', 'below_threshold', 'run']);
  });
});

describe('delta', () => {
  it('absolute: a change of at least min_change since the previous event of the key (the first event passes)', () => {
    const f: StatefulFilters = { delta: { field: 'x', min_change: 5, relative: false } };
    expect(feed(f, [100, 103, 108, 104, 99].map((x, i) => ({ at: i, values: d(x) })))).toEqual(['run', 'delta_too_small', 'run', 'delta_too_small', 'run']);
  });

  it('relative: a change of at least min_change percent of the previous value, in either direction', () => {
    const f: StatefulFilters = { delta: { field: 'x', min_change: 10, relative: true } };
    expect(feed(f, [100, 109, 120, 108, 0, 0, 1].map((x, i) => ({ at: i, values: d(x) })))).toEqual([
      'run',
      'delta_too_small', // 9 %
      'run', // 10.09 % of 109
      'run', // exactly 10 % of 120
      'run', // 100 %
      'delta_too_small', // 0 → 0
      'run', // from 0: any change is infinite
    ]);
  });
});

describe('dedup', () => {
  const f: StatefulFilters = { dedup: { window_ms: 1000 } };

  it('drops the same key within the window; the window ends exactly window ms after the event that passed', () => {
    expect(feed(f, [0, 1, 999, 1000, 1500, 2001].map((at) => ({ at })))).toEqual(['run', 'duplicate', 'duplicate', 'run', 'duplicate', 'run']);
  });

  it('a duplicate does not extend the window', () => {
    expect(feed(f, [0, 900, 1000].map((at) => ({ at })))).toEqual(['run', 'duplicate', 'run']);
  });

  it('a version that changes the window applies it to the window already open (state carries across versions)', () => {
    const opened = applyFilters({ dedup: { window_ms: 3_600_000 } }, {}, EMPTY_STATE, 0).state;
    // The new version's window is 1 m: 2 m after the event that opened the window, the key is no longer a duplicate …
    expect(applyFilters({ dedup: { window_ms: 60_000 } }, {}, opened, 59_999).result).toEqual({
      outcome: 'skipped',
      reason: EventSkipReason.Duplicate,
      detail: 'same key within 1m (until 1970-01-01T00:01:00.000Z)',
    });
    expect(applyFilters({ dedup: { window_ms: 60_000 } }, {}, opened, 120_000).result).toEqual({ outcome: 'run' });
    // … and a longer window keeps it a duplicate past the old end.
    expect(applyFilters({ dedup: { window_ms: 7_200_000 } }, {}, opened, 3_600_000).result).toMatchObject({ reason: EventSkipReason.Duplicate });
  });

  it('a window end an earlier Core stored (dedup_until) is honoured; the next pass stores its opening time, and the end for earlier Cores', () => {
    const legacy: TriggerState = { seq: 3, dedup_until: 5000 };
    expect(applyFilters(f, {}, legacy, 4999).result).toMatchObject({ reason: EventSkipReason.Duplicate });
    const passed = applyFilters(f, {}, legacy, 5000);
    expect(passed.result).toEqual({ outcome: 'run' });
    // dedup_until still written beside it, for a replica of the release before during a rolling upgrade.
    expect(passed.state).toEqual({ seq: 4, dedup_at: 5000, dedup_window_ms: 1000, dedup_until: 6000 });
    // A replica of the release before then opens a window of its own (it rewrites dedup_until, keeps dedup_at): its end holds.
    const rewritten = { ...passed.state, seq: 5, dedup_until: 9000 };
    expect(applyFilters(f, {}, rewritten, 8999).result).toMatchObject({ reason: EventSkipReason.Duplicate });
    expect(applyFilters(f, {}, rewritten, 9000).result).toEqual({ outcome: 'run' });
  });
});

describe('rate_limit', () => {
  it('drop: at most max runs in any sliding window of `per`', () => {
    const f: StatefulFilters = { rate_limit: { max: 2, per_ms: 1000, mode: 'drop' } };
    expect(feed(f, [0, 10, 20, 999, 1000, 1010, 1020].map((at) => ({ at })))).toEqual([
      'run',
      'run',
      'rate_limited',
      'rate_limited',
      'run', // the slot taken at 0 frees at 1000
      'run',
      'rate_limited',
    ]);
  });

  it('drop: the detail names the limit in the manifest\'s units', () => {
    const f: StatefulFilters = { rate_limit: { max: 1, per_ms: 3_600_000, mode: 'drop' } };
    const first = applyFilters(f, {}, EMPTY_STATE, 0);
    expect(applyFilters(f, {}, first.state, 1).result).toEqual({
      outcome: 'skipped',
      reason: EventSkipReason.RateLimited,
      detail: '1 run per 1h already started for this key',
    });
  });

  it('delay: an event over the limit is started when a slot frees, after the ones already waiting', () => {
    const f: StatefulFilters = { rate_limit: { max: 1, per_ms: 1000, mode: 'delay' } };
    expect(feed(f, [0, 10, 20, 3500].map((at) => ({ at })))).toEqual(['run', 'rate_limited@1000', 'rate_limited@2000', 'run']);
  });
});

describe('debounce', () => {
  it('defers every event by the quiet window; each new event restarts it', () => {
    const f: StatefulFilters = { debounce: { quiet_ms: 500 } };
    expect(feed(f, [0, 100, 450, 2000].map((at) => ({ at })))).toEqual(['debounced@500', 'debounced@600', 'debounced@950', 'debounced@2500']);
  });

  it('with rate_limit, a replaced start gives back its slot: a burst takes one slot, the one that fires, at its firing time', () => {
    const f: StatefulFilters = { rate_limit: { max: 2, per_ms: 3_600_000, mode: 'drop' }, debounce: { quiet_ms: 2000 } };
    // One burst (each event within the quiet period of the last) is one start, at 3500; a second burst is the second.
    // Before, each replaced event kept a slot and the third event of the burst was already rate_limited.
    expect(feed(f, [0, 100, 1000, 1500, 5000, 6000].map((at) => ({ at })))).toEqual([
      'debounced@2000',
      'debounced@2100',
      'debounced@3000',
      'debounced@3500',
      'debounced@7000',
      'debounced@8000',
    ]);
    // Two starts have fired (at 1000 and 6000): a third quiet period is refused, and a dropped event leaves alone
    // the slots of the starts it did not replace.
    const g: StatefulFilters = { rate_limit: { max: 2, per_ms: 3_600_000, mode: 'drop' }, debounce: { quiet_ms: 1000 } };
    expect(feed(g, [0, 5000, 10_000, 10_500].map((at) => ({ at })))).toEqual(['debounced@1000', 'debounced@6000', 'rate_limited', 'rate_limited']);
  });

  it('with rate_limit, the window is judged when the start fires (after the quiet period), in drop mode as in delay mode', () => {
    // Starts at 1000 and 11500 are 10.5 s apart: one per 10 s holds, so neither mode holds the second back.
    const drop: StatefulFilters = { rate_limit: { max: 1, per_ms: 10_000, mode: 'drop' }, debounce: { quiet_ms: 1000 } };
    expect(feed(drop, [0, 10_500].map((at) => ({ at })))).toEqual(['debounced@1000', 'debounced@11500']);
    const delay: StatefulFilters = { rate_limit: { max: 1, per_ms: 10_000, mode: 'delay' }, debounce: { quiet_ms: 1000 } };
    expect(feed(delay, [0, 10_500].map((at) => ({ at })))).toEqual(['debounced@1000', 'debounced@11500']);
    // 9 s apart is too close: dropped.
    expect(feed(drop, [0, 8_500].map((at) => ({ at })))).toEqual(['debounced@1000', 'rate_limited']);
  });

  it('with rate_limit in delay mode, the start fires once a slot is free and the quiet period has passed', () => {
    const f: StatefulFilters = { rate_limit: { max: 1, per_ms: 10_000, mode: 'delay' }, debounce: { quiet_ms: 1000 } };
    expect(feed(f, [0, 500, 3000].map((at) => ({ at })))).toEqual(['debounced@1000', 'debounced@1500', 'debounced@11500']);
  });
});

describe('filters in order', () => {
  it('a filter sees only the events the ones before it let through (dedup is not armed by an event below the threshold)', () => {
    const f: StatefulFilters = { threshold: { field: 'x', above: 10, on: 'every' }, dedup: { window_ms: 1000 } };
    expect(feed(f, [{ at: 0, values: v(1) }, { at: 100, values: v(50) }, { at: 200, values: v(60) }, { at: 1100, values: v(70) }])).toEqual([
      'below_threshold',
      'run',
      'duplicate',
      'run',
    ]);
  });

  it('counts every event that reached the stateful filters', () => {
    let state: TriggerState = EMPTY_STATE;
    for (let i = 0; i < 3; i++) state = applyFilters({ dedup: { window_ms: 10 } }, {}, state, i).state;
    expect(state.seq).toBe(3);
    expect(applyFilters({ dedup: { window_ms: 10 } }, {}, state, 5).result).toMatchObject({ outcome: 'skipped', reason: EventSkipReason.Duplicate });
  });
});
