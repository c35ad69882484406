import { Logger } from '@nestjs/common';
import { eventually } from '@pancha/testing';
import { OutboxRelay } from './outbox-relay.service';
import { InMemoryOutboxStore } from './testing/in-memory-outbox.store';

describe('OutboxRelay shutdown (rolling update)', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('finishes the deliveries in flight and gives back the rows it claimed but had not started', async () => {
    const store = new InMemoryOutboxStore();
    for (let i = 0; i < 5; i++) store.insert('t', `k${i}`, {});
    const started: string[] = [];
    let release: () => void = () => undefined;
    const relay = new OutboxRelay(
      store,
      [
        {
          topic: 't',
          deliver: (m) => {
            started.push(m.messageKey);
            return new Promise<void>((resolve) => (release = resolve));
          },
        },
      ],
      { enabled: false, concurrency: 1, batchSize: 5, pollIntervalMs: 5, leaseMs: 60_000 },
    );
    relay.start();
    await eventually(() => expect(started).toEqual(['k0']));
    // All five are leased to this relay; one is being delivered.
    expect([...store.rows.values()].every((r) => r.lease !== null)).toBe(true);

    const stopping = relay.stop();
    release();
    await stopping;

    expect(started).toEqual(['k0']);
    const rows = [...store.rows.values()].map((r) => [r.messageKey, r.status, r.lease]);
    // Another process can take k1..k4 at once instead of waiting out the lease.
    expect(rows).toEqual([
      ['k0', 'delivered', null],
      ['k1', 'pending', null],
      ['k2', 'pending', null],
      ['k3', 'pending', null],
      ['k4', 'pending', null],
    ]);
  });
});
