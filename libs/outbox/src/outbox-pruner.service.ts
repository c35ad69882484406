import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { recordOutboxPruned } from './outbox-metrics';
import { OUTBOX_OPTIONS, type OutboxOptions, resolveOutboxOptions } from './outbox.options';
import { OutboxStore } from './outbox.store';

/** The first pass waits this long after start (boot is busy enough), the next ones PRUNE_INTERVAL_MS apart. */
const PRUNE_FIRST_DELAY_MS = 60_000;
const PRUNE_INTERVAL_MS = 10 * 60_000;
/** Rows per DELETE: short statements holding few locks, repeated until one comes back short. */
export const PRUNE_BATCH = 2_000;

/**
 * Keeps the outbox the size of its retention window: delivered rows older than OUTBOX_RETENTION_HOURS are deleted,
 * oldest first, a batch per statement. Pending rows and dead ones are never touched. Every receiver deduplicates by
 * message id (the outbox's contract), so a producer enqueuing the same (topic, message_key) again after its row was
 * pruned causes at most a delivery the receiver recognises, never a second effect. Runs in every process whose relay
 * runs; replicas pruning at once skip each other's rows.
 */
@Injectable()
export class OutboxPruner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutboxPruner.name);
  private readonly options: OutboxOptions;
  private timer?: NodeJS.Timeout;
  private pruning?: Promise<number>;
  private stopped = false;

  constructor(
    private readonly store: OutboxStore,
    @Inject(OUTBOX_OPTIONS) options: Partial<OutboxOptions> = {},
  ) {
    this.options = resolveOutboxOptions(options);
  }

  onApplicationBootstrap(): void {
    if (this.options.enabled && this.options.retentionHours > 0) this.schedule(PRUNE_FIRST_DELAY_MS);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pruning?.catch(() => 0);
  }

  /** Deletes every delivered row past the retention (none when it is 0) and returns how many; one pass at a time. */
  pruneOnce(): Promise<number> {
    this.pruning ??= this.prune().finally(() => (this.pruning = undefined));
    return this.pruning;
  }

  private async prune(): Promise<number> {
    if (this.options.retentionHours === 0) return 0;
    const olderThanMs = this.options.retentionHours * 3_600_000;
    let total = 0;
    for (;;) {
      const deleted = await this.store.pruneDelivered(olderThanMs, PRUNE_BATCH);
      total += deleted;
      recordOutboxPruned(deleted);
      if (deleted < PRUNE_BATCH || this.stopped) break;
    }
    if (total > 0) this.logger.log({ msg: 'outbox delivered rows pruned', rows: total, retention_hours: this.options.retentionHours });
    return total;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      void this.pruneOnce()
        .catch((error: unknown) =>
          this.logger.warn({ msg: 'outbox pruning failed; will try again', error: error instanceof Error ? error.message : String(error) }),
        )
        .finally(() => {
          if (!this.stopped) this.schedule(PRUNE_INTERVAL_MS);
        });
    }, delayMs);
    // Never what keeps a process alive.
    this.timer.unref();
  }
}
