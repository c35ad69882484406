import { GroupCommit, type GroupItemOutcome, outcomesPerList } from './group-commit';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A commit the test settles by hand: each call records its items and waits for the test's answer. */
function controlledCommit<I>() {
  const calls: { items: readonly I[]; answer: ReturnType<typeof deferred<readonly GroupItemOutcome<string>[]>> }[] = [];
  const commit = (items: readonly I[]) => {
    const answer = deferred<readonly GroupItemOutcome<string>[]>();
    calls.push({ items, answer });
    return answer.promise;
  };
  return { calls, commit };
}

const ok = (items: readonly string[]): GroupItemOutcome<string>[] => items.map((i) => ({ ok: true, result: `done ${i}` }));
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('commits the first item at once and everything submitted meanwhile together in the next commit', async () => {
    const { calls, commit } = controlledCommit<string>();
    const group = new GroupCommit(commit, { maxBatch: 10 });
    const first = group.submit('a');
    await settle();
    const later = ['b', 'c', 'd'].map((i) => group.submit(i));
    await settle();
    expect(calls.map((c) => c.items)).toEqual([['a']]);
    calls[0].answer.resolve(ok(['a']));
    await expect(first).resolves.toBe('done a');
    await settle();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c', 'd']]);
    calls[1].answer.resolve(ok(['b', 'c', 'd']));
    await expect(Promise.all(later)).resolves.toEqual(['done b', 'done c', 'done d']);
  });

  it('puts items submitted in one tick (separate submit calls) into the first commit together, in call order', async () => {
    const { calls, commit } = controlledCommit<string>();
    const group = new GroupCommit(commit, { maxBatch: 10 });
    const all = ['a', 'b', 'c'].map((i) => group.submit(i));
    await settle();
    expect(calls.map((c) => c.items)).toEqual([['a', 'b', 'c']]);
    calls[0].answer.resolve(ok(['a', 'b', 'c']));
    await expect(Promise.all(all)).resolves.toEqual(['done a', 'done b', 'done c']);
  });

  it('fills a group by weight: items in order while they fit, and a heavy one alone rather than never', async () => {
    const { calls, commit } = controlledCommit<string>();
    // Each item weighs its length: 'aaaa' 4, 'bb' 2, 'ccccc' 5, 'dddddddddddd' 12 (over the limit on its own), 'e' 1.
    const group = new GroupCommit(commit, { maxBatch: 6, weight: (item) => item.length });
    const all = ['aaaa', 'bb', 'ccccc', 'dddddddddddd', 'e'].map((i) => group.submit(i));
    for (const expected of [['aaaa', 'bb'], ['ccccc'], ['dddddddddddd'], ['e']]) {
      await settle();
      expect(calls.at(-1)?.items).toEqual(expected);
      calls.at(-1)?.answer.resolve(ok(expected));
    }
    await expect(Promise.all(all)).resolves.toHaveLength(5);
    expect(calls).toHaveLength(4);
  });

  it('settles no caller before the commit that holds its item', async () => {
    const { calls, commit } = controlledCommit<string>();
    const group = new GroupCommit(commit, { maxBatch: 10 });
    let settled = false;
    void group.submit('a').then(() => (settled = true));
    await settle();
    expect(settled).toBe(false);
    calls[0].answer.resolve(ok(['a']));
    await settle();
    expect(settled).toBe(true);
  });

  it('never puts more than maxBatch items in one commit', async () => {
    const sizes: number[] = [];
    const group = new GroupCommit(async (items: readonly number[]) => {
      sizes.push(items.length);
      return items.map((i) => ({ ok: true as const, result: String(i) }));
    }, { maxBatch: 3 });
    await Promise.all(group.submitAll([1, 2, 3, 4, 5, 6, 7]));
    expect(sizes).toEqual([3, 3, 1]);
  });

  it("answers each item's own refusal without failing its neighbours", async () => {
    const group = new GroupCommit(async (items: readonly string[]) => items.map((i): GroupItemOutcome<string> => (i === 'bad' ? { ok: false, error: new Error('refused bad') } : { ok: true, result: i })), { maxBatch: 10 });
    const results = await Promise.allSettled(group.submitAll(['a', 'bad', 'c']));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('refused bad'));
  });

  it('isolates a group that fails as a whole: the items are retried one by one and only the culprit fails', async () => {
    const commits: string[][] = [];
    const isolated: number[] = [];
    const group = new GroupCommit(
      async (items: readonly string[]) => {
        commits.push([...items]);
        if (items.includes('poison')) throw new Error('value too long');
        return items.map((i) => ({ ok: true as const, result: i }));
      },
      { maxBatch: 10, onIsolate: (size) => isolated.push(size) },
    );
    const results = await Promise.allSettled(group.submitAll(['a', 'poison', 'c']));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(commits).toEqual([['a', 'poison', 'c'], ['a'], ['poison'], ['c']]);
    expect(isolated).toEqual([3]);
  });

  it('fails every item of the group when the database is unavailable (no one-by-one retries against a dead server)', async () => {
    let commits = 0;
    const group = new GroupCommit(async () => {
      commits++;
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    }, { maxBatch: 10 });
    const results = await Promise.allSettled(group.submitAll(['a', 'b']));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(commits).toBe(1);
  });

  it('keeps committing after a failed group', async () => {
    let fail = true;
    const group = new GroupCommit(async (items: readonly string[]) => {
      if (fail) {
        fail = false;
        throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
      }
      return items.map((i) => ({ ok: true as const, result: i }));
    }, { maxBatch: 10 });
    await expect(group.submit('a')).rejects.toThrow('down');
    await expect(group.submit('b')).resolves.toBe('b');
  });
});

describe('outcomesPerList', () => {
  it('hands each list item the results of its own elements, in order (an empty item gets none)', () => {
    expect(outcomesPerList([['a', 'b'], [], ['c'], ['d', 'e', 'f']], [1, 2, 3, 4, 5, 6])).toEqual([
      { ok: true, result: [1, 2] },
      { ok: true, result: [] },
      { ok: true, result: [3] },
      { ok: true, result: [4, 5, 6] },
    ]);
  });
});
