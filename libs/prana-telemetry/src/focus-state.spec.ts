import { candidateState, DEFAULT_THRESHOLDS, FocusStateMachine, type SignalSnapshot } from './focus-state';

const calm: SignalSnapshot = {
  visible: true,
  windowFocused: true,
  panelFocused: true,
  msSinceInput: 500,
  rapidClicks: 0,
  mouseVelocity: 100,
  dwellMs: 10_000,
};

describe('candidateState', () => {
  it.each([
    ['AWAY when the tab is hidden', { visible: false }, 'AWAY'],
    ['AWAY when the window is unfocused', { windowFocused: false }, 'AWAY'],
    ['DISTRACTED when the panel is unfocused', { panelFocused: false }, 'DISTRACTED'],
    ['IDLE after 600 s without input', { msSinceInput: 600_000 }, 'IDLE'],
    ['not IDLE at 599.9 s', { msSinceInput: 599_900 }, 'THINKING'],
    ['OFF_TASK on 3 rapid clicks', { rapidClicks: 3 }, 'OFF_TASK'],
    ['not OFF_TASK on 2 rapid clicks', { rapidClicks: 2 }, 'ON_TASK'],
    ['OFF_TASK when the mouse is faster than 2500 px/s', { mouseVelocity: 2501 }, 'OFF_TASK'],
    ['not OFF_TASK at exactly 2500 px/s', { mouseVelocity: 2500 }, 'ON_TASK'],
    ['THINKING after a short pause', { msSinceInput: 3_000 }, 'THINKING'],
    ['ON_TASK otherwise', {}, 'ON_TASK'],
  ] as const)('%s', (_name, patch, expected) => {
    expect(candidateState({ ...calm, ...patch }, 0)).toBe(expected);
  });

  it('DEEP_FOCUS once calm dwell has held for 15 s', () => {
    expect(candidateState(calm, 15_000)).toBe('DEEP_FOCUS');
    expect(candidateState(calm, 14_999)).toBe('ON_TASK');
  });

  // Each row sets the signals of every state from its own downwards: only the highest one may win.
  it.each([
    ['AWAY over DISTRACTED, IDLE, OFF_TASK, DEEP_FOCUS', { visible: false, panelFocused: false, msSinceInput: 700_000, rapidClicks: 5 }, 'AWAY'],
    ['DISTRACTED over IDLE, OFF_TASK', { panelFocused: false, msSinceInput: 700_000, rapidClicks: 5 }, 'DISTRACTED'],
    ['IDLE over OFF_TASK, DEEP_FOCUS', { msSinceInput: 700_000, rapidClicks: 5, mouseVelocity: 9_000 }, 'IDLE'],
    ['OFF_TASK over DEEP_FOCUS, THINKING', { rapidClicks: 5, msSinceInput: 4_000 }, 'OFF_TASK'],
    ['DEEP_FOCUS over THINKING', { msSinceInput: 4_000 }, 'DEEP_FOCUS'],
  ] as const)('precedence: %s', (_name, patch, expected) => {
    expect(candidateState({ ...calm, ...patch }, 20_000)).toBe(expected);
  });
});

describe('FocusStateMachine', () => {
  it('takes the first state at once, then changes at most once per 5 s', () => {
    const m = new FocusStateMachine();
    expect(m.evaluate(0, calm)).toEqual({ state: 'ON_TASK', transition: { from: null, to: 'ON_TASK', at: 0 } });
    // The tab hides 1 s later: the change waits until 5 s after the last one.
    for (let t = 1_000; t < 5_000; t += 1_000) expect(m.evaluate(t, { ...calm, visible: false }).state).toBe('ON_TASK');
    expect(m.evaluate(5_000, { ...calm, visible: false })).toEqual({ state: 'AWAY', transition: { from: 'ON_TASK', to: 'AWAY', at: 5_000 } });
    // Back at 6 s: still AWAY until 10 s.
    expect(m.evaluate(6_000, calm).state).toBe('AWAY');
    expect(m.evaluate(9_000, calm).state).toBe('AWAY');
    expect(m.evaluate(10_000, calm).transition).toEqual({ from: 'AWAY', to: 'ON_TASK', at: 10_000 });
  });

  it('drops a wanted change that no longer holds when the 5 s are up', () => {
    const m = new FocusStateMachine();
    m.evaluate(0, calm);
    m.evaluate(1_000, { ...calm, rapidClicks: 3 });
    expect(m.evaluate(5_000, calm)).toEqual({ state: 'ON_TASK' });
  });

  it('reaches DEEP_FOCUS only after dwell > 60 s with calm input sustained for 15 s', () => {
    const m = new FocusStateMachine();
    const states: string[] = [];
    for (let t = 0; t <= 90_000; t += 1_000) states.push(m.evaluate(t, { ...calm, dwellMs: t }).state);
    // dwell passes 60 s at t = 61 s; 15 s later (76 s) DEEP_FOCUS.
    expect(states[75]).toBe('ON_TASK');
    expect(states[76]).toBe('DEEP_FOCUS');
    expect(states[90]).toBe('DEEP_FOCUS');
  });

  it('restarts the 15 s when input stops being calm', () => {
    const m = new FocusStateMachine();
    let state = '';
    for (let t = 0; t <= 100_000; t += 1_000) {
      // a fast mouse at 70 s breaks the calm streak (not OFF_TASK: below 2500 px/s)
      const snap = { ...calm, dwellMs: t, mouseVelocity: t === 70_000 ? 1_500 : 100 };
      state = m.evaluate(t, snap).state;
      if (t === 84_000) expect(state).toBe('ON_TASK');
    }
    expect(state).toBe('DEEP_FOCUS');
    expect(DEFAULT_THRESHOLDS.deepSustainMs).toBe(15_000);
  });

  it('does not call an untouched page DEEP_FOCUS: calm input needs some input in the last 30 s', () => {
    const m = new FocusStateMachine();
    let state = '';
    for (let t = 0; t <= 120_000; t += 1_000) state = m.evaluate(t, { ...calm, dwellMs: t, msSinceInput: t }).state;
    expect(state).toBe('THINKING');
  });
});
