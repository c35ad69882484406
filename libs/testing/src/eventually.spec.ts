import { deferred, eventually, poll } from './eventually';

describe('eventually', () => {
  it('returns what the check returns once it stops throwing, trying again in between', async () => {
    let calls = 0;
    const value = await eventually(
      () => {
        calls += 1;
        if (calls < 3) throw new Error(`not yet (${calls})`);
        return 'done';
      },
      { intervalMs: 1 },
    );
    expect(value).toBe('done');
    expect(calls).toBe(3);
  });

  it('after the timeout rethrows the last error as it is, so an expect inside reports its own diff', async () => {
    let calls = 0;
    const failure = await eventually(
      () => {
        calls += 1;
        expect(calls).toBe(0);
      },
      // A deadline a starved machine still gets a second try inside (at 30 ms it once did not).
      { timeoutMs: 1_000, intervalMs: 5 },
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain('toBe');
    expect((failure as Error).message).toContain(`Received: ${calls}`);
    expect(calls).toBeGreaterThan(1);
  });

  it('names what it waited for when told', async () => {
    await expect(
      eventually(
        () => {
          throw new Error('status is dispatching');
        },
        { timeoutMs: 10, intervalMs: 5, what: 'the task to be dispatched' },
      ),
    ).rejects.toThrow(/^timed out after 10 ms waiting for the task to be dispatched: status is dispatching$/);
  });

  it('accepts the timeout as a bare number', async () => {
    await expect(eventually(() => Promise.reject(new Error('never')), 10)).rejects.toThrow('never');
  });
});

describe('poll', () => {
  it('resolves with the first value that is not undefined, counting errors as "not yet"', async () => {
    const answers: Array<() => number | undefined> = [
      () => {
        throw new Error('starting');
      },
      () => undefined,
      () => 0,
    ];
    let i = 0;
    await expect(poll('a number', async () => answers[i++]())).resolves.toBe(0);
    expect(i).toBe(3);
  });

  it('waits for a condition to hold: false is "not yet", not an answer', async () => {
    let queued = 0;
    const condition = poll('four queued', () => ++queued === 4);
    await expect(condition).resolves.toBe(true);
    expect(queued).toBe(4);
  });

  it('names what it waited for', async () => {
    await expect(poll('the outbox to drain', () => undefined, 10)).rejects.toThrow(/waiting for the outbox to drain: not yet/);
  });
});

describe('deferred', () => {
  it('is settled by hand, once', async () => {
    const gate = deferred<string>();
    expect(gate.settled).toBe(false);
    gate.resolve('open');
    gate.resolve('again');
    expect(gate.settled).toBe(true);
    await expect(gate.promise).resolves.toBe('open');
  });
});
