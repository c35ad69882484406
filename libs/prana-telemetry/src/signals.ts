/// <reference lib="dom" />
/**
 * Collects the original client's signals from DOM events: keystrokes, mouse velocity, scroll, rapid clicks,
 * dwell (how long the watched panel has held focus), idle time, tab visibility / window focus and panel focus.
 * Only counts and timings are kept: never which key, never what was typed, never where the pointer was.
 */
import type { SignalSnapshot } from './focus-state';

/** Signal counters over one packet window (5 s), sent as the packet's raw_signals. */
export interface RawSignals {
  keystrokes: number;
  mouse_moves: number;
  /** Peak and mean pointer velocity over the window, px/s. */
  mouse_velocity_peak: number;
  mouse_velocity_avg: number;
  scrolls: number;
  clicks: number;
  rapid_clicks: number;
  tab_switches: number;
  dwell_seconds: number;
  /** Seconds since the last input; null before any. */
  idle_seconds: number | null;
  visible: boolean;
  window_focused: boolean;
  panel_focused: boolean;
}

export interface SignalTrackerOptions {
  /** Two clicks closer than this are rapid. */
  rapidClickGapMs?: number;
  /** Rapid clicks are counted over this trailing window. */
  rapidClickWindowMs?: number;
  /** The work area whose focus makes the difference between on task and DISTRACTED. Default: the whole document. */
  panel?: () => Element | null;
  now?: () => number;
}

interface MoveSample {
  at: number;
  velocity: number;
}

export class SignalTracker {
  private readonly rapidGap: number;
  private readonly rapidWindow: number;
  private readonly now: () => number;
  private readonly panel: () => Element | null;
  private lastInputAt = Number.NEGATIVE_INFINITY;
  private lastClickAt = Number.NEGATIVE_INFINITY;
  private rapidClickTimes: number[] = [];
  private moves: MoveSample[] = [];
  private lastMove: { x: number; y: number; at: number } | null = null;
  private panelFocusedSince: number | null = null;
  private windowFocused = true;
  private counters = SignalTracker.emptyCounters();
  private detachers: Array<() => void> = [];

  constructor(
    private readonly win: Window,
    options: SignalTrackerOptions = {},
  ) {
    this.rapidGap = options.rapidClickGapMs ?? 400;
    this.rapidWindow = options.rapidClickWindowMs ?? 2_000;
    this.now = options.now ?? (() => Date.now());
    this.panel = options.panel ?? (() => win.document.documentElement);
  }

  private static emptyCounters() {
    return { keystrokes: 0, moves: 0, velocitySamples: 0, velocitySum: 0, velocityPeak: 0, scrolls: 0, clicks: 0, rapid: 0, tabSwitches: 0 };
  }

  attach(): void {
    if (this.detachers.length) return;
    const doc = this.win.document;
    this.windowFocused = doc.hasFocus();
    if (this.panelHasFocus()) this.panelFocusedSince = this.now();
    const on = <K extends string>(target: EventTarget, type: K, fn: (e: Event) => void) => {
      target.addEventListener(type, fn, { passive: true, capture: true });
      this.detachers.push(() => target.removeEventListener(type, fn, { capture: true }));
    };
    on(doc, 'keydown', () => {
      this.counters.keystrokes++;
      this.input();
    });
    on(doc, 'mousemove', (e) => this.onMove(e as MouseEvent));
    on(this.win, 'scroll', () => {
      this.counters.scrolls++;
      this.input();
    });
    on(doc, 'wheel', () => {
      this.counters.scrolls++;
      this.input();
    });
    on(doc, 'click', () => this.onClick());
    on(doc, 'visibilitychange', () => {
      if (doc.visibilityState === 'hidden') this.counters.tabSwitches++;
      this.refreshPanel();
    });
    on(this.win, 'blur', () => {
      // A blur on an element bubbles to window in capture; only the window's own blur means the window lost focus.
      this.windowFocused = doc.hasFocus();
      this.refreshPanel();
    });
    on(this.win, 'focus', () => {
      this.windowFocused = true;
      this.refreshPanel();
    });
    on(doc, 'focusin', () => this.refreshPanel());
    on(doc, 'focusout', () => queueMicrotask(() => this.refreshPanel()));
  }

  detach(): void {
    for (const d of this.detachers.splice(0)) d();
  }

  private input(): void {
    this.lastInputAt = this.now();
  }

  private onMove(e: MouseEvent): void {
    const at = this.now();
    this.counters.moves++;
    if (this.lastMove && at > this.lastMove.at) {
      const dist = Math.hypot(e.clientX - this.lastMove.x, e.clientY - this.lastMove.y);
      const velocity = (dist / (at - this.lastMove.at)) * 1000;
      this.moves.push({ at, velocity });
      this.counters.velocitySum += velocity;
      this.counters.velocitySamples++;
      this.counters.velocityPeak = Math.max(this.counters.velocityPeak, velocity);
    }
    this.lastMove = { x: e.clientX, y: e.clientY, at };
    this.input();
  }

  private onClick(): void {
    const at = this.now();
    this.counters.clicks++;
    if (at - this.lastClickAt < this.rapidGap) {
      this.rapidClickTimes.push(at);
      this.counters.rapid++;
    }
    this.lastClickAt = at;
    this.input();
    this.refreshPanel();
  }

  private panelHasFocus(): boolean {
    const doc = this.win.document;
    const panel = this.panel();
    if (!panel) return false;
    if (panel === doc.documentElement || panel === doc.body) return true;
    const active = doc.activeElement;
    return !!active && panel.contains(active);
  }

  private refreshPanel(): void {
    const focused = this.panelHasFocus();
    if (focused && this.panelFocusedSince === null) this.panelFocusedSince = this.now();
    if (!focused) this.panelFocusedSince = null;
  }

  snapshot(): SignalSnapshot {
    const now = this.now();
    this.rapidClickTimes = this.rapidClickTimes.filter((t) => now - t <= this.rapidWindow);
    this.moves = this.moves.filter((m) => now - m.at <= 1_000);
    const visible = this.win.document.visibilityState !== 'hidden';
    const panelFocused = this.panelHasFocus();
    // Dwell breaks when the tab is hidden, the window loses focus or the panel does.
    if (!visible || !this.windowFocused || !panelFocused) this.panelFocusedSince = null;
    else this.panelFocusedSince ??= now;
    return {
      visible,
      windowFocused: this.windowFocused,
      panelFocused,
      msSinceInput: now - this.lastInputAt,
      rapidClicks: this.rapidClickTimes.length,
      mouseVelocity: this.moves.reduce((m, s) => Math.max(m, s.velocity), 0),
      dwellMs: this.panelFocusedSince === null ? 0 : now - this.panelFocusedSince,
    };
  }

  /** The counters since the previous call (one packet window), then starts a new window. */
  takeWindow(): RawSignals {
    const s = this.snapshot();
    const c = this.counters;
    this.counters = SignalTracker.emptyCounters();
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      keystrokes: c.keystrokes,
      mouse_moves: c.moves,
      mouse_velocity_peak: Math.round(c.velocityPeak),
      mouse_velocity_avg: c.velocitySamples ? Math.round(c.velocitySum / c.velocitySamples) : 0,
      scrolls: c.scrolls,
      clicks: c.clicks,
      rapid_clicks: c.rapid,
      tab_switches: c.tabSwitches,
      dwell_seconds: round(s.dwellMs / 1000),
      idle_seconds: Number.isFinite(s.msSinceInput) ? round(s.msSinceInput / 1000) : null,
      visible: s.visible,
      window_focused: s.windowFocused,
      panel_focused: s.panelFocused,
    };
  }
}
