import { EventSkipReason } from '@pancha/contracts';
import type { TriggerSpec } from '@pancha/workflow-manifest';

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
  /** dedup: until when (ms epoch, exclusive) an event of this key is a duplicate. */
  dedup_until?: number;
  /** rate_limit: start times (ms epoch) of the runs let through within the last window, delayed ones included. */
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

export function isStateful(filters: StatefulFilters): boolean {
  return !!(filters.threshold || filters.delta || filters.dedup || filters.rate_limit || filters.debounce);
}

/**
 * Runs the stateful filters in order (threshold, delta, dedup, rate_limit, debounce) on one event of one key.
 * Pure: the same state, values and clock give the same result and next state, so a sequential replay of a key's
 * events reproduces what the router decided. A filter sees only the events every filter before it let through.
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
    if (state.dedup_until !== undefined && now < state.dedup_until) {
      return skip(EventSkipReason.Duplicate, `same key within ${filters.dedup.window_ms} ms (until ${new Date(state.dedup_until).toISOString()})`);
    }
    state.dedup_until = now + filters.dedup.window_ms;
  }

  let due = now;
  let runs: number[] | undefined;
  if (filters.rate_limit) {
    const { max, per_ms, mode } = filters.rate_limit;
    // Times still in the window: a run at t occupies a slot until t + per (exclusive). Under debounce the window is
    // judged when the start would fire (after the quiet period), which is when it takes its slot.
    const at = filters.debounce ? now + filters.debounce.quiet_ms : now;
    const live = (state.runs ?? []).filter((t) => t + per_ms > at).sort((a, b) => a - b);
    // Under debounce this event replaces the key's pending start (if it has not fired), and takes back its slot.
    runs = filters.debounce ? without(live, state.pending !== undefined && state.pending > now ? state.pending : undefined) : live;
    if (runs.length >= max) {
      if (mode === 'drop') {
        // Dropped, the event replaces nothing: a pending start keeps its slot.
        state.runs = live;
        return skip(EventSkipReason.RateLimited, `${max} runs per ${per_ms} ms already started for this key`);
      }
      // delay: the earliest time a slot frees up once the runs already queued have taken theirs.
      due = runs[runs.length - max] + per_ms;
    }
  }

  // Every event restarts the quiet period; only the last one's start fires (the caller keeps one pending start per key).
  const fires = filters.debounce ? Math.max(due, now + filters.debounce.quiet_ms) : due;
  if (runs) state.runs = [...runs, fires];
  if (filters.debounce) {
    state.pending = fires;
    return { result: { outcome: 'deferred', reason: EventSkipReason.Debounced, due_at: fires }, state };
  }
  if (due > now) return { result: { outcome: 'deferred', reason: EventSkipReason.RateLimited, due_at: due }, state };
  return { result: { outcome: 'run' }, state };
}

/** `times` less one occurrence of `time` (when given and present). */
function without(times: number[], time: number | undefined): number[] {
  const i = time === undefined ? -1 : times.indexOf(time);
  return i < 0 ? times : [...times.slice(0, i), ...times.slice(i + 1)];
}

function round(n: number): string {
  return Number.isFinite(n) ? String(Math.round(n * 1000) / 1000) : 'infinity';
}
