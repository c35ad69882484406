import { mapConcurrently } from './map-concurrently';

describe('mapConcurrently', () => {
  it('answers in the items order with at most `limit` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const gates: Array<() => void> = [];
    const result = mapConcurrently([1, 2, 3, 4, 5], 2, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      // Later items finish first: the order of the answer must not follow completion.
      await new Promise<void>((resolve) => gates.push(resolve));
      inFlight--;
      return n * 10;
    });
    while (gates.length || inFlight) {
      await new Promise((resolve) => setImmediate(resolve));
      gates.pop()?.();
    }
    await expect(result).resolves.toEqual([10, 20, 30, 40, 50]);
    expect(most).toBe(2);
  });

  it('rejects with the first failure and starts no call after it', async () => {
    const started: number[] = [];
    const result = mapConcurrently([1, 2, 3, 4], 1, async (n) => {
      started.push(n);
      if (n === 2) throw new Error('two failed');
      return n;
    });
    await expect(result).rejects.toThrow('two failed');
    expect(started).toEqual([1, 2]);
  });

  it('refuses a limit that would start no call', async () => {
    for (const limit of [0, NaN, 1.5]) await expect(mapConcurrently([1], limit, async (n) => n)).rejects.toThrow(RangeError);
  });

  it('answers an empty list without calling', async () => {
    await expect(mapConcurrently([], 4, async () => 1)).resolves.toEqual([]);
  });
});
