import { SerialLoad } from './serial-load';

/**
 * Loads the test settles by hand: each call is recorded with its argument, and `started(n)` resolves once n loads
 * have begun (every wait is on that condition, never on time).
 */
function controlledLoads() {
  const calls: { arg: string; resolve: (value: string) => void; reject: (error: Error) => void }[] = [];
  const waiting: { n: number; wake: () => void }[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const load = (arg: string) =>
    new Promise<string>((resolve, reject) => {
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      const settle = () => running--;
      calls.push({ arg, resolve: (v) => (settle(), resolve(v)), reject: (e) => (settle(), reject(e)) });
      for (const w of waiting.filter((w) => calls.length >= w.n)) w.wake();
    });
  return {
    loads: new SerialLoad(load),
    calls,
    started: (n: number) => (calls.length >= n ? Promise.resolve() : new Promise<void>((wake) => waiting.push({ n, wake }))),
    mostAtOnce: () => mostAtOnce,
  };
}

/** Which comes first: the n-th load starting, or `answer` settling (it must not settle before its load exists). */
const firstOf = (started: Promise<void>, answer: Promise<unknown>) =>
  Promise.race([started.then(() => 'load started'), answer.then(() => 'answered', () => 'answered')]);

describe('SerialLoad', () => {
  describe('fresh()', () => {
    it('starts a load at once when none runs', async () => {
      const { loads, calls } = controlledLoads();
      const answer = loads.fresh('a');
      expect(calls.map((c) => c.arg)).toEqual(['a']);
      calls[0].resolve('one');
      await expect(answer).resolves.toBe('one');
    });

    it('a call during a load gets a new load that starts after the one in flight, not the one in flight', async () => {
      const { loads, calls, started, mostAtOnce } = controlledLoads();
      const inFlight = loads.fresh('a');
      const later = loads.fresh('b');
      expect(calls).toHaveLength(1);

      calls[0].resolve('read before the change');
      await expect(inFlight).resolves.toBe('read before the change');
      expect(await firstOf(started(2), later)).toBe('load started');
      expect(calls.map((c) => c.arg)).toEqual(['a', 'b']);

      calls[1].resolve('read after the change');
      await expect(later).resolves.toBe('read after the change');
      expect(mostAtOnce()).toBe(1);
    });

    it('many calls during a load share one follow-up load (started with the first waiting caller\'s argument)', async () => {
      const { loads, calls, started, mostAtOnce } = controlledLoads();
      const inFlight = loads.fresh('first');
      const waiters = ['w1', 'w2', 'w3', 'w4', 'w5'].map((arg) => loads.fresh(arg));

      calls[0].resolve('old');
      await inFlight;
      await started(2);
      calls[1].resolve('new');
      await expect(Promise.all(waiters)).resolves.toEqual(['new', 'new', 'new', 'new', 'new']);
      expect(calls.map((c) => c.arg)).toEqual(['first', 'w1']);
      expect(mostAtOnce()).toBe(1);
    });

    it('a call during the follow-up load waits for a third load after it', async () => {
      const { loads, calls, started } = controlledLoads();
      void loads.fresh('a');
      const second = loads.fresh('b');
      calls[0].resolve('1');
      await started(2);
      const third = loads.fresh('c');
      calls[1].resolve('2');
      await expect(second).resolves.toBe('2');
      expect(await firstOf(started(3), third)).toBe('load started');
      calls[2].resolve('3');
      await expect(third).resolves.toBe('3');
    });

    it('a failed load rejects its own callers; those who asked during it still get their load, and the next call loads again', async () => {
      const { loads, calls, started } = controlledLoads();
      const failing = loads.fresh('a');
      const alsoFailing = loads.joinOrStart('a2');
      const waiting = loads.fresh('b');

      calls[0].reject(new Error('directory unreadable'));
      await expect(failing).rejects.toThrow('directory unreadable');
      await expect(alsoFailing).rejects.toThrow('directory unreadable');
      await started(2);
      calls[1].reject(new Error('still unreadable'));
      await expect(waiting).rejects.toThrow('still unreadable');

      const retry = loads.fresh('c');
      expect(calls.map((c) => c.arg)).toEqual(['a', 'b', 'c']);
      calls[2].resolve('readable again');
      await expect(retry).resolves.toBe('readable again');
    });
  });

  describe('joinOrStart()', () => {
    it('shares the load in flight instead of queueing another', async () => {
      const { loads, calls } = controlledLoads();
      const inFlight = loads.fresh('a');
      const joined = loads.joinOrStart('b');
      calls[0].resolve('current');
      await expect(Promise.all([inFlight, joined])).resolves.toEqual(['current', 'current']);
      expect(calls.map((c) => c.arg)).toEqual(['a']);
    });

    it('starts a load when none runs, and a fresh() during it still gets a later one', async () => {
      const { loads, calls, started } = controlledLoads();
      const polled = loads.joinOrStart('poll');
      const fresh = loads.fresh('sync');
      expect(calls.map((c) => c.arg)).toEqual(['poll']);
      calls[0].resolve('polled');
      await expect(polled).resolves.toBe('polled');
      await started(2);
      calls[1].resolve('synced');
      await expect(fresh).resolves.toBe('synced');
    });
  });
});
