/**
 * An async load (read a directory, fetch a catalog) that runs one at a time, where a caller may need a result newer
 * than its own call: a change it just made or saw must be in what it gets back.
 *
 * `fresh()` answers with a load that starts after the call. While a load runs, every `fresh()` that arrives waits
 * for it and then shares one follow-up load, so a burst of calls costs at most two loads and no change made during
 * a load is missed. A load that fails rejects only its own callers; the next call loads again.
 *
 * `joinOrStart()` is for a caller that only wants a recent result (a poll): it shares the load in flight, or
 * starts one when none runs.
 */
export class SerialLoad<T, A = void> {
  private running?: Promise<T>;
  private next?: Promise<T>;

  /** `load` receives the argument of the call that started it (a trigger to report, say). */
  constructor(private readonly load: (arg: A) => Promise<T>) {}

  fresh(arg: A): Promise<T> {
    if (!this.running) return this.start(arg);
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.fresh(arg);
      });
    return this.next;
  }

  joinOrStart(arg: A): Promise<T> {
    return this.running ?? this.start(arg);
  }

  private start(arg: A): Promise<T> {
    const running = this.load(arg).finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return running;
  }
}
