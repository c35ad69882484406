// Property: however the events of one key interleave across concurrent routers, the runs are the ones a sequential
// evaluation of the same events, in the order their state updates were serialised, gives. Seeded, so a failure
// reproduces; the unlocked variant shows the check can fail.
import { applyFilters, EMPTY_STATE, type FilterResult, type StatefulFilters, type TriggerState } from './filters';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FILTER_SETS: StatefulFilters[] = [
  { threshold: { field: 'x', above: 50, on: 'crossing' } },
  { delta: { field: 'x', min_change: 20, relative: true } },
  { dedup: { window_ms: 40 } },
  { rate_limit: { max: 3, per_ms: 50, mode: 'drop' } },
  { rate_limit: { max: 2, per_ms: 30, mode: 'delay' } },
  { threshold: { field: 'x', above: 30, on: 'every' }, delta: { field: 'x', min_change: 5, relative: false }, dedup: { window_ms: 10 }, rate_limit: { max: 4, per_ms: 100, mode: 'drop' } },
  { debounce: { quiet_ms: 25 } },
];

interface Ev {
  id: number;
  x: number;
}

/** A store with one lock per key, like `SELECT … FOR UPDATE` on the key's row. */
class LockedStore {
  state: TriggerState = EMPTY_STATE;
  private tail: Promise<void> = Promise.resolve();
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise((r) => (release = r));
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

const yieldRandomly = async (random: () => number) => {
  for (let i = Math.floor(random() * 4); i > 0; i--) await Promise.resolve();
};

async function concurrent(filters: StatefulFilters, events: Ev[], random: () => number, locked: boolean) {
  const store = new LockedStore();
  let clock = 0;
  const decided: { ev: Ev; now: number; result: FilterResult }[] = [];
  const one = async (ev: Ev) => {
    await yieldRandomly(random);
    const body = async () => {
      const read = store.state;
      await yieldRandomly(random);
      const now = (clock += Math.floor(random() * 7));
      const next = applyFilters(filters, { threshold: ev.x, delta: ev.x }, read, now);
      await yieldRandomly(random);
      store.state = next.state;
      decided.push({ ev, now, result: next.result });
    };
    await (locked ? store.withLock(body) : body());
  };
  await Promise.all(events.map(one));
  return decided;
}

const runs = (results: FilterResult[]) => results.filter((r) => r.outcome !== 'skipped').length;

describe('one key, many concurrent events', () => {
  it('gives exactly the runs of a sequential evaluation in commit order, for 300 seeded interleavings', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = rng(seed);
      const filters = FILTER_SETS[seed % FILTER_SETS.length];
      const events: Ev[] = Array.from({ length: 5 + Math.floor(random() * 40) }, (_, id) => ({ id, x: Math.floor(random() * 100) }));
      const decided = await concurrent(filters, events, random, true);
      let state: TriggerState = EMPTY_STATE;
      const sequential = decided.map(({ ev, now }) => {
        const next = applyFilters(filters, { threshold: ev.x, delta: ev.x }, state, now);
        state = next.state;
        return next.result;
      });
      expect({ seed, results: decided.map((d) => d.result) }).toEqual({ seed, results: sequential });
      expect(runs(decided.map((d) => d.result))).toBe(runs(sequential));
    }
  });

  it('without the lock the same check finds lost updates (the property is not vacuous)', async () => {
    let differing = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const random = rng(seed);
      const filters: StatefulFilters = { dedup: { window_ms: 1_000_000 } };
      const events: Ev[] = Array.from({ length: 20 }, (_, id) => ({ id, x: id }));
      const decided = await concurrent(filters, events, random, false);
      if (runs(decided.map((d) => d.result)) !== 1) differing++;
    }
    expect(differing).toBeGreaterThan(0);
  });
});
