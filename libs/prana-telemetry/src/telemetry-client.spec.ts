import type { SendResult } from './delivery';
import type { TelemetryPacket } from './packet';
import { PranaTelemetry, type TelemetryEvent } from './telemetry-client';

const ctx = { user_id: 'u-1', session_id: 's-1', lesson_id: 'console', system_type: 'ems', role: 'employee' } as const;

let visibility: DocumentVisibilityState = 'visible';
let hasFocus = true;

function hide(): void {
  visibility = 'hidden';
  document.dispatchEvent(new Event('visibilitychange'));
}
function show(): void {
  visibility = 'visible';
  document.dispatchEvent(new Event('visibilitychange'));
}
const key = () => document.dispatchEvent(new KeyboardEvent('keydown', { key: 'a' }));
const move = (x: number, y = 0) => document.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y }));
const click = () => document.dispatchEvent(new MouseEvent('click'));

function setup(options: Partial<ConstructorParameters<typeof PranaTelemetry>[0]> = {}, statuses: number[] = []) {
  const sent: TelemetryPacket[][] = [];
  const events: TelemetryEvent[] = [];
  const client = new PranaTelemetry({
    context: ctx,
    backoffMs: 100,
    sender: async (packets): Promise<SendResult> => {
      sent.push(packets);
      const status = statuses.shift() ?? 202;
      return { ok: status < 300, status };
    },
    ...options,
  });
  client.subscribe((e) => events.push(e));
  const states = () => events.filter((e) => e.type === 'state' && e.transition).map((e) => (e as { state: string }).state);
  const packets = () => events.filter((e) => e.type === 'packet').map((e) => (e as { packet: TelemetryPacket }).packet);
  return { client, sent, events, states, packets };
}

/** Advance fake time second by second, running `each` before every tick (input that keeps the user active). */
async function seconds(n: number, each?: (i: number) => void): Promise<void> {
  for (let i = 0; i < n; i++) {
    each?.(i);
    await jest.advanceTimersByTimeAsync(1_000);
  }
}

beforeEach(() => {
  jest.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  localStorage.clear();
  visibility = 'visible';
  hasFocus = true;
  jest.spyOn(document, 'visibilityState', 'get').mockImplementation(() => visibility);
  jest.spyOn(document, 'hasFocus').mockImplementation(() => hasFocus);
  Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => true });
  delete (window as unknown as { PRANA_DISABLED?: boolean }).PRANA_DISABLED;
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('PranaTelemetry: states from simulated input', () => {
  it('goes ON_TASK → THINKING → AWAY → ON_TASK → OFF_TASK, one change per 5 s at most', async () => {
    const { client, states, events } = setup();
    client.start();
    await seconds(5, () => key()); // typing
    await seconds(6); // a pause: THINKING after 3 s, allowed once 5 s passed since ON_TASK
    hide();
    await seconds(6);
    show();
    await seconds(6, () => key());
    await seconds(6, (i) => {
      click();
      jest.advanceTimersByTime(100);
      click();
      jest.advanceTimersByTime(100);
      click();
      move(i * 10);
    });
    client.stop();
    expect(states()).toEqual(['ON_TASK', 'THINKING', 'AWAY', 'ON_TASK', 'OFF_TASK']);
    const changes = events.filter((e) => e.type === 'state' && e.transition).map((e) => (e as { transition: { at: number } }).transition.at);
    for (let i = 1; i < changes.length; i++) expect(changes[i] - changes[i - 1]).toBeGreaterThanOrEqual(5_000);
  });

  it('is DISTRACTED when focus leaves the watched panel, and AWAY when the window loses focus', async () => {
    document.body.innerHTML = '<main id="panel"><input id="in" /></main><button id="out">x</button>';
    const { client, states } = setup({ panel: () => document.getElementById('panel') });
    (document.getElementById('in') as HTMLInputElement).focus();
    client.start();
    await seconds(5, () => key());
    (document.getElementById('out') as HTMLButtonElement).focus();
    await seconds(6, () => key());
    hasFocus = false;
    window.dispatchEvent(new Event('blur'));
    await seconds(6);
    client.stop();
    expect(states()).toEqual(['ON_TASK', 'DISTRACTED', 'AWAY']);
  });

  it('reaches IDLE after 600 s without input, and DEEP_FOCUS after calm dwell', async () => {
    const idle = setup();
    idle.client.start();
    key();
    await seconds(601);
    idle.client.stop();
    expect(idle.states()).toEqual(['ON_TASK', 'THINKING', 'IDLE']);

    const deep = setup();
    deep.client.start();
    await seconds(80, () => key()); // steady typing with the panel focused: dwell 60 s, then 15 s sustained
    deep.client.stop();
    expect(deep.states()).toEqual(['ON_TASK', 'DEEP_FOCUS']);
  });
});

describe('PranaTelemetry: packets and delivery', () => {
  it('emits a packet every 5 s whose seconds sum to 5.0 and sends them in batches of 5', async () => {
    const { client, packets, sent } = setup();
    client.start();
    await seconds(12, () => key());
    hide();
    await seconds(13);
    client.stop();
    const ps = packets();
    expect(ps).toHaveLength(5);
    for (const p of ps) {
      expect(p.active_seconds + p.idle_seconds + p.away_seconds).toBeCloseTo(5, 10);
      expect(p.user_id).toBe('u-1');
      expect(p.raw_signals).toEqual(expect.objectContaining({ keystrokes: expect.any(Number), tab_switches: expect.any(Number) }));
    }
    expect(ps[0]).toEqual(expect.objectContaining({ cognitive_state: 'ON_TASK', active_seconds: 5, focus_score: 75 }));
    expect(ps[0].raw_signals.keystrokes).toBe(5);
    // the window the tab hid in: 3 s active, 2 s away (the state changes to AWAY 5 s after the last change)
    expect(new Set(ps.map((p) => p.event_id)).size).toBe(5);
    expect(ps[4]).toEqual(expect.objectContaining({ cognitive_state: 'AWAY', away_seconds: 5, focus_score: 0 }));
    expect(sent).toHaveLength(1);
    expect(sent[0].map((p) => p.event_id)).toEqual(ps.map((p) => p.event_id));
  });

  it('offline: queues in localStorage across a reload, then delivers the queue once when back online', async () => {
    let online = false;
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => online });
    const first = setup();
    first.client.start();
    await seconds(35, () => key());
    first.client.stop();
    expect(first.sent).toHaveLength(0);
    const queued = first.packets().map((p) => p.event_id);
    expect(queued).toHaveLength(7);

    // reload: a new client on the same storage, still offline
    const second = setup();
    second.client.start();
    expect(second.client.queue.size).toBe(7);
    online = true;
    window.dispatchEvent(new Event('online'));
    await jest.advanceTimersByTimeAsync(0);
    second.client.stop();
    const delivered = second.sent.flat().map((p) => p.event_id);
    expect(delivered).toEqual(queued);
    expect(second.client.queue.size).toBe(0);
  });

  it('reports what a full queue dropped', async () => {
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => false });
    const { client, events } = setup({ queueCapacity: 3 });
    client.start();
    await seconds(25, () => key());
    client.stop();
    const drops = events.filter((e) => e.type === 'drop');
    expect(drops).toHaveLength(2);
    expect(client.queue.dropped.queue_full).toBe(2);
  });

  it('retries with backoff on 503, then delivers', async () => {
    const { client, sent } = setup({}, [503, 503]);
    client.start();
    await seconds(25, () => key());
    await jest.advanceTimersByTimeAsync(1_000);
    client.stop();
    expect(sent).toHaveLength(3);
    expect(client.queue.size).toBe(0);
  });
});

describe('PranaTelemetry: kill switch and pause', () => {
  it('the kill switch (window.PRANA_DISABLED or localStorage) collects and sends nothing', async () => {
    (window as unknown as { PRANA_DISABLED: boolean }).PRANA_DISABLED = true;
    const a = setup();
    expect(a.client.start()).toBe('disabled');
    await seconds(30, () => key());
    expect(a.packets()).toHaveLength(0);
    delete (window as unknown as { PRANA_DISABLED?: boolean }).PRANA_DISABLED;

    localStorage.setItem('PRANA_DISABLED', '1');
    const b = setup();
    expect(b.client.start()).toBe('disabled');
    await seconds(10, () => key());
    expect(b.packets()).toHaveLength(0);
  });

  it('pause stops collection and is remembered across a reload; resume starts again', async () => {
    const a = setup();
    a.client.start();
    await seconds(5, () => key());
    a.client.pause();
    await seconds(20, () => key());
    expect(a.packets()).toHaveLength(1);

    const b = setup();
    expect(b.client.start()).toBe('paused');
    await seconds(10, () => key());
    expect(b.packets()).toHaveLength(0);
    expect(b.client.resume()).toBe('running');
    await seconds(5, () => key());
    b.client.stop();
    expect(b.packets()).toHaveLength(1);
  });
});
