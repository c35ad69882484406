/// <reference lib="dom" />
/**
 * The focus-state machine of the original PRANA client, evaluated once a second from a snapshot of the
 * signals. States are checked in precedence order (the first that holds wins) and the reported state changes
 * at most once per 5 s, so a flicker of input never produces a flicker of states.
 */

export const FOCUS_STATES = ['AWAY', 'DISTRACTED', 'IDLE', 'OFF_TASK', 'DEEP_FOCUS', 'THINKING', 'ON_TASK'] as const;
export type FocusState = (typeof FOCUS_STATES)[number];

/** Base of focus_score per state (the original client's table). */
export const FOCUS_SCORE_BASE: Readonly<Record<FocusState, number>> = {
  DEEP_FOCUS: 95,
  ON_TASK: 75,
  THINKING: 65,
  IDLE: 30,
  OFF_TASK: 10,
  DISTRACTED: 5,
  AWAY: 0,
};

/** What the signal tracker knows at one instant. */
export interface SignalSnapshot {
  /** Tab visible (document.visibilityState === 'visible'). */
  visible: boolean;
  /** Browser window has focus. */
  windowFocused: boolean;
  /** The watched panel (the work area) holds focus. */
  panelFocused: boolean;
  /** ms since the last keystroke, mouse move, scroll or click (Infinity if none yet). */
  msSinceInput: number;
  /** Clicks in the recent rapid-click window that came in quick succession. */
  rapidClicks: number;
  /** Peak mouse velocity over the last second, px/s. */
  mouseVelocity: number;
  /** ms the panel has held focus continuously (dwell). */
  dwellMs: number;
}

export interface FocusThresholds {
  /** IDLE: no input for at least this long. */
  idleMs: number;
  /** OFF_TASK: this many rapid clicks … */
  rapidClicks: number;
  /** … or mouse faster than this, px/s. */
  offTaskVelocity: number;
  /** DEEP_FOCUS: dwell longer than this … */
  deepDwellMs: number;
  /** … with calm input: no rapid clicks, mouse at most this px/s … */
  calmVelocity: number;
  /** … and some input within this long (an untouched page is a pause, not deep focus) … */
  calmInputWithinMs: number;
  /** … held without a break for this long. */
  deepSustainMs: number;
  /** THINKING: no input for at least this long (a short pause, below `idleMs`). */
  thinkingPauseMs: number;
  /** At most one state change per this many ms. */
  minChangeIntervalMs: number;
}

export const DEFAULT_THRESHOLDS: Readonly<FocusThresholds> = {
  idleMs: 600_000,
  rapidClicks: 3,
  offTaskVelocity: 2500,
  deepDwellMs: 60_000,
  calmVelocity: 800,
  calmInputWithinMs: 30_000,
  deepSustainMs: 15_000,
  thinkingPauseMs: 3_000,
  minChangeIntervalMs: 5_000,
};

/** The state the signals call for right now, before the 5 s rule; `deepHeldMs`: how long calm dwell has held. */
export function candidateState(s: SignalSnapshot, deepHeldMs: number, t: FocusThresholds = DEFAULT_THRESHOLDS): FocusState {
  if (!s.visible || !s.windowFocused) return 'AWAY';
  if (!s.panelFocused) return 'DISTRACTED';
  if (s.msSinceInput >= t.idleMs) return 'IDLE';
  if (s.rapidClicks >= t.rapidClicks || s.mouseVelocity > t.offTaskVelocity) return 'OFF_TASK';
  if (deepHeldMs >= t.deepSustainMs) return 'DEEP_FOCUS';
  if (s.msSinceInput >= t.thinkingPauseMs) return 'THINKING';
  return 'ON_TASK';
}

/** Dwell past the threshold with calm input: the condition DEEP_FOCUS needs to hold for `deepSustainMs`. */
export function isCalmDwell(s: SignalSnapshot, t: FocusThresholds = DEFAULT_THRESHOLDS): boolean {
  return (
    s.visible &&
    s.windowFocused &&
    s.panelFocused &&
    s.dwellMs > t.deepDwellMs &&
    s.rapidClicks === 0 &&
    s.mouseVelocity <= t.calmVelocity &&
    s.msSinceInput < t.calmInputWithinMs
  );
}

export interface FocusTransition {
  from: FocusState | null;
  to: FocusState;
  at: number;
}

/**
 * Holds the reported state. `evaluate` is called every second with the time and a snapshot; it returns the
 * state in force after the 5 s rule (a wanted change made too soon waits and is taken on a later evaluation if
 * the signals still call for it).
 */
export class FocusStateMachine {
  private current: FocusState | null = null;
  private changedAt = Number.NEGATIVE_INFINITY;
  private calmSince: number | null = null;

  constructor(private readonly thresholds: FocusThresholds = DEFAULT_THRESHOLDS) {}

  get state(): FocusState | null {
    return this.current;
  }

  evaluate(now: number, snapshot: SignalSnapshot): { state: FocusState; transition?: FocusTransition } {
    const t = this.thresholds;
    if (isCalmDwell(snapshot, t)) this.calmSince ??= now;
    else this.calmSince = null;
    const held = this.calmSince === null ? 0 : now - this.calmSince;
    const wanted = candidateState(snapshot, held, t);
    if (this.current === null || (wanted !== this.current && now - this.changedAt >= t.minChangeIntervalMs)) {
      const transition: FocusTransition = { from: this.current, to: wanted, at: now };
      this.current = wanted;
      this.changedAt = now;
      return { state: wanted, transition };
    }
    return { state: this.current };
  }

  reset(): void {
    this.current = null;
    this.changedAt = Number.NEGATIVE_INFINITY;
    this.calmSince = null;
  }
}
