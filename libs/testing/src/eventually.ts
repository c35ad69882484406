/** How long and how often `eventually` retries, and what it is waiting for (named in its timeout error). */
export interface EventuallyOptions {
  /** Give up after this long (default 20 s: a ceiling for a busy machine, not a pace; a passing check returns at once). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** What is awaited, e.g. "the task to be dispatched": the timeout error starts with it. */
  what?: string;
}

const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_INTERVAL_MS = 50;

/**
 * The one way a test waits for something a background process does (a relay, a consumer, another service):
 * calls `check` until it stops throwing and returns what it returned. After the timeout the last error stands,
 * so a failed `expect` inside reports its own diff. Never sleep a fixed time instead: on a busy machine the
 * sleep is too short, on an idle one it is wasted.
 */
export async function eventually<T>(check: () => T | Promise<T>, options: number | EventuallyOptions = {}): Promise<T> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = DEFAULT_INTERVAL_MS, what } =
    typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) {
        if (!what) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${reason}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/**
 * `eventually` for probes that answer "not yet" with undefined (or false) instead of throwing: resolves with the
 * first other value. `false` is "not yet" too, so a condition (`() => queue.length === 4`) waits for it to hold
 * rather than resolving at once with its first answer. Errors thrown by `probe` count as "not yet" (a service
 * still starting).
 */
export function poll<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<Exclude<T, false>> {
  return eventually(
    async () => {
      const value = await probe();
      if (value === undefined || value === false) throw new Error('not yet');
      return value as Exclude<T, false>;
    },
    { timeoutMs, intervalMs: 100, what },
  );
}

/** A promise a test settles by hand: hold a stand-in's answer until the test has seen what it wants. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
  readonly settled: boolean;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  let settled = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = (value) => {
      settled = true;
      res(value);
    };
    reject = (error) => {
      settled = true;
      rej(error);
    };
  });
  return {
    promise,
    resolve,
    reject,
    get settled() {
      return settled;
    },
  };
}
