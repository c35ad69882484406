import { EventSkipReason } from '@pancha/contracts';
import { formatDuration, type TriggerSpec } from '@pancha/workflow-manifest';

/**
 * What a trigger remembers about one key, between events (stored as JSON in Core's `event_filter_state`).
 * Every stateful filter reads and writes only its own member, and only for events that reached it.
 */
export interface TriggerState {
  /** Events of this key that reached the stateful filters: the order a sequential evaluation would use. */
  seq: number;
  /** threshold: the field's value on the previous event (for `on: crossing`). */
  last?: number;
  /** delta: the field's value on the previous event. */
  ref?: number;
  /**
   * dedup: when (ms epoch) the event that opened the key's window passed. The window's end is judged with the
   * trigger's current `dedup.window`, so a version that shortens or lengthens the window applies it to a window
   * already open.
   */
  dedup_at?: number;
  /** dedup: the window that was in force when `dedup_at` was written (so a `dedup_until` an earlier Core rewrote since is told apart). */
  dedup_window_ms?: number;
  /**
   * dedup, as an earlier Core reads it: until when (ms epoch, exclusive) an event of this key is a duplicate. Read only
   * when `dedup_at` is absent (a state an earlier Core wrote); still written beside it, so that during a rolling upgrade
   * a replica of the release before sees the window this one opened (it knows no `dedup_at`).
   */
  dedup_until?: number;
  /**
   * rate_limit: start times (ms epoch) of the runs let through within the last window, delayed ones included, in
   * order; only the latest `max` (with debounce `max + 1`: the pending start, which the next event takes back, and
   * the `max` before it). The next free slot depends on no earlier one.
   */
  runs?: number[];
  /** debounce: when the key's pending start fires (ms epoch); until then the next event replaces it, and its rate_limit slot. */
  pending?: number;
}

export const EMPTY_STATE: TriggerState = Object.freeze({ seq: 0 }) as TriggerState;

/** The stateful filters of a trigger, in the order they are evaluated. */
export type StatefulFilters = Pick<TriggerSpec, 'threshold' | 'delta' | 'dedup' | 'rate_limit' | 'debounce'>;

/** The numbers the filters compare, evaluated from the event before the key's state is locked. */
export interface FilterValues {
  threshold?: number;
  delta?: number;
}

export type FilterResult =
  | { outcome: 'run' }
  | { outcome: 'skipped'; reason: EventSkipReason; detail: string }
  | { outcome: 'deferred'; reason: EventSkipReason.RateLimited | EventSkipReason.Debounced; due_at: number };

/** Delay mode schedules a start at most this many windows (`per`) ahead of the event… */
export const DELAY_HORIZON_WINDOWS = 100;
/** … and no further than 24 h ahead, unless one window is longer. */
export const DELAY_HORIZON_CAP_MS = 24 * 3_600_000;

/**
 * How far ahead of the event `rate_limit` in delay mode may schedule its start (docs/events.md, "rate_limit"): 100
 * windows, at most 24 h, at least one window. Past it the event is skipped `rate_limited`, as in drop mode. So the
 * starts waiting for one key are at most 100 × max, the next window's slot is always reachable (delay means
 * something for `per: 365d` too), and a due time is at most 365 days (the longest window) past the clock.
 */
export function delayHorizonMs(perMs: number): number {
  return Math.max(perMs, Math.min(DELAY_HORIZON_WINDOWS * perMs, DELAY_HORIZON_CAP_MS));
}

export function isStateful(filters: StatefulFilters): boolean {
  return !!(filters.threshold || filters.delta || filters.dedup || filters.rate_limit || filters.debounce);
}

/**
 * Runs the stateful filters in order (threshold, delta, dedup, rate_limit, debounce) on one event of one key.
 * Pure: the same state, values and clock give the same result and next state, so a sequential replay of a key's
 * events reproduces what the router decided. A filter sees only the events every filter before it let through.
 * The windows are the validator's (more than 0, at most 365 days; compileTrigger refuses others), so every time it
 * computes is within a few years of `now`.
 */
export function applyFilters(
  filters: StatefulFilters,
  values: FilterValues,
  previous: TriggerState,
  now: number,
): { result: FilterResult; state: TriggerState } {
  const state: TriggerState = { ...previous, seq: previous.seq + 1 };
  const skip = (reason: EventSkipReason, detail: string) => ({ result: { outcome: 'skipped' as const, reason, detail }, state });

  if (filters.threshold) {
    const { above, below, on } = filters.threshold;
    const value = values.threshold as number;
    const prev = state.last;
    state.last = value;
    const beyond = (v: number) => (above !== undefined ? v > above : v < (below as number));
    const line = above !== undefined ? `above ${above}` : `below ${below}`;
    if (!beyond(value)) return skip(EventSkipReason.BelowThreshold, `${value} is not ${line}`);
    if (on === 'crossing' && prev !== undefined && beyond(prev)) {
      return skip(EventSkipReason.BelowThreshold, `${value} is ${line} but did not cross it (previous ${prev})`);
    }
  }

  if (filters.delta) {
    const { min_change, relative } = filters.delta;
    const value = values.delta as number;
    const prev = state.ref;
    state.ref = value;
    if (prev !== undefined) {
      const change = Math.abs(value - prev);
      const measured = relative ? (prev === 0 ? (change === 0 ? 0 : Infinity) : (change / Math.abs(prev)) * 100) : change;
      if (measured < min_change) {
        return skip(EventSkipReason.DeltaTooSmall, `changed by ${round(measured)}${relative ? '%' : ''} (from ${prev} to ${value}); needs ${min_change}${relative ? '%' : ''}`);
      }
    }
  }

  if (filters.dedup) {
    const { window_ms } = filters.dedup;
    // dedup_at judged with the current window; unless a replica of the release before (which keeps dedup_at as it found
    // it) opened a window since: then dedup_until no longer matches what was written with dedup_at, and is the end.
    const ours = state.dedup_at !== undefined && state.dedup_until === state.dedup_at + (state.dedup_window_ms ?? Number.NaN);
    const until = ours ? (state.dedup_at as number) + window_ms : state.dedup_until;
    if (until !== undefined && now < until) {
      return skip(EventSkipReason.Duplicate, `same key within ${formatDuration(window_ms)} (until ${timeOf(until)})`);
    }
    state.dedup_at = now;
    state.dedup_window_ms = window_ms;
    state.dedup_until = now + window_ms;
  }

  let due = now;
  let runs: number[] | undefined;
  let keep = 0;
  if (filters.rate_limit) {
    const { max, per_ms, mode } = filters.rate_limit;
    // Times still in the window: a run at t occupies a slot until t + per (exclusive). Under debounce the window is
    // judged when the start would fire (after the quiet period), which is when it takes its slot.
    const at = filters.debounce ? now + filters.debounce.quiet_ms : now;
    // Only the latest `max` times decide (the slot after them is the earliest of them + per), and with debounce the
    // pending start besides, which this event may take back: an event never reads or writes more. The times in the
    // window are the latest ones, so cutting before or after the window's filter keeps the same times.
    keep = filters.debounce ? max + 1 : max;
    const live = latest((state.runs ?? []).filter((t) => t + per_ms > at), keep);
    // Under debounce this event replaces the key's pending start (if it has not fired), and takes back its slot.
    runs = filters.debounce ? without(live, state.pending !== undefined && state.pending > now ? state.pending : undefined) : live;
    if (runs.length >= max) {
      if (mode === 'drop') {
        // Dropped, the event replaces nothing: a pending start keeps its slot.
        state.runs = live;
        return skip(EventSkipReason.RateLimited, `${max} ${max === 1 ? 'run' : 'runs'} per ${formatDuration(per_ms)} already started for this key`);
      }
      // delay: the earliest time a slot frees up once the runs already queued have taken theirs …
      due = runs[runs.length - max] + per_ms;
      // … unless that is past the horizon: then the event is dropped, and takes no slot.
      const horizon = delayHorizonMs(per_ms);
      if (due - now > horizon) {
        state.runs = live;
        return skip(
          EventSkipReason.RateLimited,
          `${max} ${max === 1 ? 'run' : 'runs'} per ${formatDuration(per_ms)} already started or waiting for this key; the next free slot is ` +
            `${formatDuration(due - now)} away, further than delay mode schedules a start (${formatDuration(horizon)} ahead for per ${formatDuration(per_ms)})`,
        );
      }
    }
  }

  // Every event restarts the quiet period; only the last one's start fires (the caller keeps one pending start per key).
  const fires = filters.debounce ? Math.max(due, now + filters.debounce.quiet_ms) : due;
  if (runs) state.runs = latest([...runs, fires], keep);
  if (filters.debounce) {
    state.pending = fires;
    return { result: { outcome: 'deferred', reason: EventSkipReason.Debounced, due_at: fires }, state };
  }
  if (due > now) return { result: { outcome: 'deferred', reason: EventSkipReason.RateLimited, due_at: due }, state };
  return { result: { outcome: 'run' }, state };
}

/** The latest `n` of `times`, in order (sorted only if they are not: the router stores them in order). */
function latest(times: number[], n: number): number[] {
  const sorted = times.every((t, i) => i === 0 || times[i - 1] <= t) ? times : [...times].sort((a, b) => a - b);
  return sorted.length > n ? sorted.slice(sorted.length - n) : sorted;
}

/** A time for a detail: ISO 8601, or the ms when a state an earlier Core stored holds one past JavaScript's dates. */
function timeOf(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms after 1970` : date.toISOString();
}

/** `times` less one occurrence of `time` (when given and present). */
function without(times: number[], time: number | undefined): number[] {
  const i = time === undefined ? -1 : times.indexOf(time);
  return i < 0 ? times : [...times.slice(0, i), ...times.slice(i + 1)];
}

function round(n: number): string {
  return Number.isFinite(n) ? String(Math.round(n * 1000) / 1000) : 'infinity';
}
