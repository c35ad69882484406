import { buildPacket, classifySecond, focusScore, splitSeconds, type SecondKind } from './packet';
import type { RawSignals } from './signals';

const raw: RawSignals = {
  keystrokes: 4, mouse_moves: 10, mouse_velocity_peak: 300, mouse_velocity_avg: 120, scrolls: 1, clicks: 1,
  rapid_clicks: 0, tab_switches: 0, dwell_seconds: 12, idle_seconds: 0.4, visible: true, window_focused: true, panel_focused: true,
};
const ctx = { user_id: 'u-1', session_id: 's-1', lesson_id: 'console', system_type: 'ems', role: 'employee' } as const;

describe('splitSeconds', () => {
  const kinds: SecondKind[] = ['active', 'idle', 'away'];
  it('always sums to exactly 5.0 (every mix of 1..7 evaluated seconds)', () => {
    for (let n = 1; n <= 7; n++) {
      const combos = kinds.length ** n;
      for (let c = 0; c < combos; c++) {
        const mix = Array.from({ length: n }, (_, i) => kinds[Math.floor(c / kinds.length ** i) % kinds.length]);
        const s = splitSeconds(mix);
        expect(Math.round((s.active_seconds + s.idle_seconds + s.away_seconds) * 10)).toBe(50);
        for (const v of Object.values(s)) expect(v).toBeGreaterThanOrEqual(0);
      }
    }
  });
  it('counts one second per evaluation in a normal window', () => {
    expect(splitSeconds(['active', 'active', 'idle', 'away', 'active'])).toEqual({ active_seconds: 3, idle_seconds: 1, away_seconds: 1 });
  });
});

describe('classifySecond', () => {
  it('away for AWAY, idle for IDLE or 30 s without input, else active', () => {
    expect(classifySecond('AWAY', 0)).toBe('away');
    expect(classifySecond('IDLE', 700_000)).toBe('idle');
    expect(classifySecond('THINKING', 30_000)).toBe('idle');
    expect(classifySecond('THINKING', 5_000)).toBe('active');
    expect(classifySecond('DISTRACTED', 0)).toBe('active');
  });
});

describe('focusScore', () => {
  it('starts from the state base, scaled by the active share', () => {
    expect(focusScore('DEEP_FOCUS', 5, raw)).toBe(95);
    expect(focusScore('ON_TASK', 5, raw)).toBe(75);
    expect(focusScore('THINKING', 5, raw)).toBe(65);
    expect(focusScore('ON_TASK', 2.5, raw)).toBe(38);
    expect(focusScore('AWAY', 0, raw)).toBe(0);
  });
  it('subtracts penalties for restless input, never below 0', () => {
    expect(focusScore('ON_TASK', 5, { ...raw, rapid_clicks: 2, tab_switches: 1 })).toBe(55);
    expect(focusScore('OFF_TASK', 5, { ...raw, rapid_clicks: 5, mouse_velocity_peak: 3_000 })).toBe(0);
  });
});

describe('buildPacket', () => {
  it('carries the original fields, a uuid event_id and seconds that sum to 5.0', () => {
    const p = buildPacket(ctx, 'ON_TASK', ['active', 'active', 'active', 'active', 'idle'], raw, Date.UTC(2026, 0, 1, 12));
    expect(p).toEqual({
      event_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      user_id: 'u-1', session_id: 's-1', lesson_id: 'console', system_type: 'ems', role: 'employee',
      timestamp: '2026-01-01T12:00:00.000Z',
      cognitive_state: 'ON_TASK',
      active_seconds: 4, idle_seconds: 1, away_seconds: 0,
      focus_score: 60,
      raw_signals: raw,
    });
    expect(buildPacket(ctx, 'ON_TASK', ['active'], raw, 0).event_id).not.toBe(p.event_id);
    expect('product' in p).toBe(false);
  });

  it("names the context's product (PRANA requires one of theirs from people restricted to products)", () => {
    const p = buildPacket({ ...ctx, product: 'alpha' }, 'DEEP_FOCUS', ['active'], raw, 0);
    expect(p.product).toBe('alpha');
    expect(JSON.parse(JSON.stringify(p))).toEqual(expect.objectContaining({ product: 'alpha', user_id: 'u-1' }));
  });
});
