import { Logger } from '@nestjs/common';
import { OutboxPruner, PRUNE_BATCH } from './outbox-pruner.service';
import { InMemoryOutboxStore } from './testing/in-memory-outbox.store';

const HOUR = 3_600_000;

/** A store holding `count` rows delivered at the store's time 0. */
function storeWithDelivered(count: number): InMemoryOutboxStore {
  const store = new InMemoryOutboxStore();
  for (let i = 0; i < count; i++) store.insert('t', `m${i}`, {});
  for (const row of store.rows.values()) Object.assign(row, { status: 'delivered', deliveredAt: 0 });
  return store;
}

describe('OutboxPruner', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterEach(() => jest.useRealTimers());

  it('deletes rows only once they are older than the retention, a batch per statement', async () => {
    const store = storeWithDelivered(PRUNE_BATCH + 1);
    const pruner = new OutboxPruner(store, { enabled: false, retentionHours: 2 });
    store.now = 2 * HOUR; // exactly the retention: not older than it
    expect(await pruner.pruneOnce()).toBe(0);
    store.now = 2 * HOUR + 1;
    expect(await pruner.pruneOnce()).toBe(PRUNE_BATCH + 1);
    expect(store.rows.size).toBe(0);
    expect(store.statements.prune).toBe(3); // the one that found nothing, then a full batch and the short one
  });

  it('runs a minute after bootstrap, then every ten minutes, and not after shutdown; never with retention 0 or the relay off', async () => {
    jest.useFakeTimers();
    const store = storeWithDelivered(5);
    store.now = 1_000 * HOUR;
    const pruner = new OutboxPruner(store, { enabled: true, retentionHours: 1 });
    pruner.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(59_999);
    expect(store.statements.prune).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(store.statements.prune).toBe(1);
    expect(store.rows.size).toBe(0);
    await jest.advanceTimersByTimeAsync(10 * 60_000);
    expect(store.statements.prune).toBe(2);
    await pruner.beforeApplicationShutdown();
    await jest.advanceTimersByTimeAsync(60 * 60_000);
    expect(store.statements.prune).toBe(2);

    for (const options of [{ enabled: true, retentionHours: 0 }, { enabled: false, retentionHours: 1 }]) {
      const idle = storeWithDelivered(1);
      idle.now = 1_000 * HOUR;
      new OutboxPruner(idle, options).onApplicationBootstrap();
      await jest.advanceTimersByTimeAsync(60 * 60_000);
      expect(idle.statements.prune).toBe(0);
    }
  });

  it('keeps its schedule when a pass fails', async () => {
    jest.useFakeTimers();
    const store = storeWithDelivered(1);
    store.now = 1_000 * HOUR;
    const real = store.pruneDelivered.bind(store);
    let failures = 1;
    jest.spyOn(store, 'pruneDelivered').mockImplementation((olderThanMs, limit) =>
      failures-- > 0 ? Promise.reject(new Error('database unreachable')) : real(olderThanMs, limit),
    );
    const pruner = new OutboxPruner(store, { enabled: true, retentionHours: 1 });
    pruner.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(store.rows.size).toBe(1);
    await jest.advanceTimersByTimeAsync(10 * 60_000);
    expect(store.rows.size).toBe(0);
    await pruner.beforeApplicationShutdown();
  });
});
