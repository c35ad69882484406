import { isDatabaseUnavailableError } from '../errors/database-errors';

/** What became of one item of a group: its result, or the refusal that item alone gets. */
export type GroupItemOutcome<R> = { ok: true; result: R } | { ok: false; error: unknown };

export interface GroupCommitOptions<I = unknown> {
  /** Most items per commit, or most weight when `weight` is given. */
  maxBatch: number;
  /**
   * What one item counts for against maxBatch (say, the rows it writes); 1 when absent. A group takes items in order
   * while they fit, and always at least one, however heavy.
   */
  weight?: (item: I) => number;
  /**
   * Called when a group of several items failed as a whole for a reason other than the database being unavailable,
   * before its items are retried one by one (so only the item that causes it fails).
   */
  onIsolate?: (size: number, error: unknown) => void;
}

/**
 * For a group whose items are lists (a request's events, never split): `results` holds one result per element of all
 * the items, in order, and each item gets back the slice of its own elements.
 */
export function outcomesPerList<R>(items: readonly { readonly length: number }[], results: readonly R[]): GroupItemOutcome<R[]>[] {
  let at = 0;
  return items.map((item) => ({ ok: true, result: results.slice(at, (at += item.length)) }));
}

interface Pending<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: items submitted while a commit is running wait together for the next one, which `commit` makes
 * in one transaction (items in arrival order), answering one outcome per item. Each caller's promise settles only
 * after the commit that holds its item: nothing is answered before it is durable. When a whole group fails, the
 * database being unavailable fails every item of it (each caller answers 503; retries are the callers'); any other
 * failure of a group of several is isolated by committing its items one by one.
 */
export class GroupCommit<I, R> {
  private readonly queue: Pending<I, R>[] = [];
  private draining = false;

  constructor(
    private readonly commit: (items: readonly I[]) => Promise<readonly GroupItemOutcome<R>[]>,
    private readonly options: GroupCommitOptions<I>,
  ) {}

  /** Items waiting for the next commit (not those of the commit running now). */
  get queued(): number {
    return this.queue.length;
  }

  submit(item: I): Promise<R> {
    return this.submitAll([item])[0];
  }

  /** Queues every item before the next commit starts, so they share it (up to maxBatch). */
  submitAll(items: readonly I[]): Promise<R>[] {
    const promises = items.map((item) => new Promise<R>((resolve, reject) => this.queue.push({ item, resolve, reject })));
    if (!this.draining && items.length > 0) {
      // The first commit starts once the current synchronous code is done, so items submitted together in one tick
      // (the events of a batch routed side by side) share it rather than the first going alone.
      this.draining = true;
      queueMicrotask(() => void this.drain());
    }
    return promises;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) await this.run(this.queue.splice(0, this.nextGroupSize()));
    } finally {
      this.draining = false;
    }
  }

  /** How many of the queue's first items the next commit takes. */
  private nextGroupSize(): number {
    const { maxBatch, weight } = this.options;
    if (!weight) return maxBatch;
    let size = 0;
    for (let total = 0; size < this.queue.length; size++) {
      total += weight(this.queue[size].item);
      if (total > maxBatch && size > 0) break;
    }
    return size;
  }

  private async run(group: Pending<I, R>[]): Promise<void> {
    let outcomes: readonly GroupItemOutcome<R>[];
    try {
      outcomes = await this.commit(group.map((p) => p.item));
      if (outcomes.length !== group.length) throw new Error(`group commit answered ${outcomes.length} outcomes for ${group.length} items`);
    } catch (error) {
      if (group.length > 1 && !isDatabaseUnavailableError(error)) {
        this.options.onIsolate?.(group.length, error);
        for (const p of group) await this.run([p]);
        return;
      }
      for (const p of group) p.reject(error);
      return;
    }
    group.forEach((p, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) p.resolve(outcome.result);
      else p.reject(outcome.error);
    });
  }
}
