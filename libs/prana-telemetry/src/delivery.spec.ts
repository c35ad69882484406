import { Delivery, type SendResult, type Sender } from './delivery';
import { OfflineQueue } from './offline-queue';
import { buildPacket, type TelemetryPacket } from './packet';
import type { RawSignals } from './signals';

const raw = { keystrokes: 0 } as RawSignals;
const ctx = { user_id: 'u-1', session_id: 's-1', lesson_id: 'console', system_type: 'ems', role: 'employee' } as const;
const packet = (): TelemetryPacket => buildPacket(ctx, 'ON_TASK', ['active'], raw, 0);

function recordingSender(statuses: number[]): Sender & { calls: TelemetryPacket[][] } {
  const calls: TelemetryPacket[][] = [];
  const send = (async (batch: TelemetryPacket[]): Promise<SendResult> => {
    calls.push(batch);
    const status = statuses.shift() ?? 202;
    return { ok: status >= 200 && status < 300, status };
  }) as Sender & { calls: TelemetryPacket[][] };
  send.calls = calls;
  return send;
}

beforeEach(() => localStorage.clear());

describe('OfflineQueue', () => {
  it('keeps at most its capacity, dropping the oldest and saying which', () => {
    const q = new OfflineQueue(localStorage, 'q', 100);
    const packets = Array.from({ length: 103 }, packet);
    const reports = packets.map((p) => q.push(p)).filter(Boolean);
    expect(q.size).toBe(100);
    expect(reports).toEqual(packets.slice(0, 3).map((p) => ({ reason: 'queue_full', count: 1, event_ids: [p.event_id] })));
    expect(q.all()[0].event_id).toBe(packets[3].event_id);
    expect(q.dropped).toEqual({ queue_full: 3, rejected: 0 });
  });

  it('survives a reload: a new queue on the same storage has the packets and the drop count', () => {
    const q = new OfflineQueue(localStorage, 'q', 2);
    const packets = [packet(), packet(), packet()];
    packets.forEach((p) => q.push(p));
    const reloaded = new OfflineQueue(localStorage, 'q', 2);
    expect(reloaded.all().map((p) => p.event_id)).toEqual(packets.slice(1).map((p) => p.event_id));
    expect(reloaded.dropped.queue_full).toBe(1);
  });

  it('starts empty on a corrupt stored value', () => {
    localStorage.setItem('q', '{not json');
    expect(new OfflineQueue(localStorage, 'q').size).toBe(0);
  });
});

describe('Delivery', () => {
  const noSleep = { sleep: async () => undefined, random: () => 0.5 };

  it('sends in batches of 5 and empties the queue', async () => {
    const q = new OfflineQueue(localStorage, 'q');
    const packets = Array.from({ length: 12 }, packet);
    packets.forEach((p) => q.push(p));
    const send = recordingSender([]);
    await new Delivery(q, send, noSleep).flush();
    expect(send.calls.map((b) => b.length)).toEqual([5, 5, 2]);
    expect(send.calls.flat().map((p) => p.event_id)).toEqual(packets.map((p) => p.event_id));
    expect(q.size).toBe(0);
  });

  it('retries a failing batch 3 times with doubling backoff, then keeps it queued', async () => {
    const q = new OfflineQueue(localStorage, 'q');
    q.push(packet());
    const waits: number[] = [];
    const send = recordingSender([0, 503, 429, 500]);
    await new Delivery(q, send, { random: () => 0.5, sleep: async (ms) => void waits.push(ms) }).flush();
    expect(send.calls).toHaveLength(4);
    expect(waits).toEqual([1_000, 2_000, 4_000]);
    expect(q.size).toBe(1);
  });

  it('drops and reports a batch the server rejects (422), instead of re-queuing it forever', async () => {
    const q = new OfflineQueue(localStorage, 'q');
    const p = packet();
    q.push(p);
    const drops: unknown[] = [];
    const send = recordingSender([422]);
    await new Delivery(q, send, { ...noSleep, onDrop: (r) => drops.push(r) }).flush();
    expect(send.calls).toHaveLength(1);
    expect(drops).toEqual([{ reason: 'rejected', count: 1, event_ids: [p.event_id], status: 422 }]);
    expect(q.size).toBe(0);
    expect(q.dropped.rejected).toBe(1);
  });

  it('drops only the packets a 422 names, and sends the rest of the batch at once', async () => {
    const q = new OfflineQueue(localStorage, 'q');
    const packets = Array.from({ length: 3 }, packet);
    for (const p of packets) q.push(p);
    const drops: unknown[] = [];
    const calls: TelemetryPacket[][] = [];
    // The BFF refuses the packet at [1] (queued before the person's products changed: no product).
    const send: Sender = async (batch) => {
      calls.push(batch);
      return calls.length === 1
        ? { ok: false, status: 422, body: { code: 'validation_failed', errors: [{ field: 'packets[1].product', messages: ['product is required'] }] } }
        : { ok: true, status: 202 };
    };
    await new Delivery(q, send, { ...noSleep, onDrop: (r) => drops.push(r) }).flush();
    expect(calls.map((c) => c.map((p) => p.event_id))).toEqual([packets.map((p) => p.event_id), [packets[0].event_id, packets[2].event_id]]);
    expect(drops).toEqual([{ reason: 'rejected', count: 1, event_ids: [packets[1].event_id], status: 422 }]);
    expect(q.size).toBe(0);
    expect(q.dropped.rejected).toBe(1);
  });

  it('keeps packets without retrying on 401/403 (signed out, CSRF token changed)', async () => {
    const q = new OfflineQueue(localStorage, 'q');
    q.push(packet());
    const send = recordingSender([401]);
    await new Delivery(q, send, noSleep).flush();
    expect(send.calls).toHaveLength(1);
    expect(q.size).toBe(1);
  });

  it('runs one flush at a time: concurrent flushes send each packet once', async () => {
    const q = new OfflineQueue(localStorage, 'q');
    Array.from({ length: 5 }, packet).forEach((p) => q.push(p));
    const send = recordingSender([]);
    const d = new Delivery(q, send, noSleep);
    await Promise.all([d.flush(), d.flush(), d.flush()]);
    expect(send.calls).toHaveLength(1);
  });
});
