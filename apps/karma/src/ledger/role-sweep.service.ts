import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { OutboxService } from '@pancha/outbox';
import { DataSource } from 'typeorm';
import { Clock } from '../clock/clock';
import { KarmaEngine } from '../engine/karma-engine';
import type { PublishedRole } from '../engine/karma-store';
import { roleChangedMessage } from '../router-events/role-changed';
import { LEDGER_OPTIONS, type LedgerOptions } from './karma-ledger.service';
import {
  LEDGER_COLUMNS,
  type LedgerRow,
  ON_PUBLISHED_ROLE_CONFLICT,
  PUBLISHED_ROLE_COLUMNS,
  type PublishedRoleRow,
  publishedRoleValues,
  toLedgerEntry,
  toPublishedRole,
  UPSERT_PUBLISHED_ROLE,
} from './pg-karma.store';

/** setTimeout behind a provider, so a test can fire the schedule itself. */
@Injectable()
export class RoleSweepTimer {
  /** Calls `fire` once after `ms`; returns the cancel. The timer does not keep the process alive. */
  start(ms: number, fire: () => void): () => void {
    const timer = setTimeout(fire, ms);
    timer.unref();
    return () => clearTimeout(timer);
  }
}

/** What one sweep round did: users looked at (due rows) and role changes enqueued. */
export interface RoleSweepResult {
  checked: number;
  published: number;
}

/**
 * The due rows of one batch, locked until it commits. SKIP LOCKED: a row another replica's sweep or an ingest batch
 * (BatchKarmaStore locks its users' rows) holds is left to it; that one writes the row's next moment anyway.
 */
const DUE_SQL = `
  SELECT ${PUBLISHED_ROLE_COLUMNS} FROM karma_published_role
  WHERE next_time_change_at <= $1
  ORDER BY next_time_change_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED`;

/**
 * Publishes the role changes time makes (grants and penalties expiring, decay) when they happen, not at the user's next
 * event: every KARMA_ROLE_SWEEP_INTERVAL_MS (0 = off; off too when router events are) a round takes the users whose
 * karma_published_role row is due (next_time_change_at ≤ now, Karma's Clock), derives each one's role from their
 * ledger as of now and, when it differs from the last published role, enqueues `karma.role_changed` (cause `time`,
 * or `event` for a change an event made while router events were off) through the outbox, with the ordering key of
 * the event path, and stores it as the published role with the next moment to look; all in one transaction per batch
 * of KARMA_ROLE_SWEEP_BATCH_SIZE users, until no due row is left.
 *
 * Safe with any number of replicas and against concurrent events without the ledger lock (ingest goes on while a
 * round runs): a batch holds its rows' locks (FOR UPDATE SKIP LOCKED) until it commits, and an ingest batch locks its
 * users' rows before it compares (BatchKarmaStore), so one user's comparison and publication are made by one
 * transaction at a time, each reading the row the one before it committed. The ledger of a user is only written by an
 * ingest batch holding that user's row lock (or, for a user with no row, one the sweep cannot select), so what a batch
 * reads of a locked user's ledger stays true until it commits. Nothing lives only in memory: a crashed round leaves
 * its rows due.
 */
@Injectable()
export class KarmaRoleSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(KarmaRoleSweep.name);
  private cancel: (() => void) | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(KarmaEngine) private readonly engine: KarmaEngine,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(OutboxService) private readonly outbox: OutboxService,
    @Inject(LEDGER_OPTIONS) private readonly options: LedgerOptions,
    @Inject(RoleSweepTimer) private readonly timer: RoleSweepTimer,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.roleSweepIntervalMs > 0 && !this.options.routerEvents) {
      this.logger.log('role sweep off: router events are off (KARMA_ROUTER_EVENTS_ENABLED=false), so there is nothing to publish');
    }
    this.arm();
  }

  /** Before the database closes: no new round or batch, and the running batch commits or rolls back. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
    await this.round;
  }

  private arm(): void {
    if (this.options.roleSweepIntervalMs <= 0 || !this.options.routerEvents || this.stopped) return;
    this.cancel = this.timer.start(this.options.roleSweepIntervalMs, () => {
      this.cancel = undefined;
      this.round = this.runOnce()
        .then(
          (result) => {
            if (result.published > 0) this.logger.log(`role sweep: ${result.published} role change(s) enqueued (${result.checked} user(s) due)`);
          },
          (error: Error) => this.logger.warn(`role sweep failed: ${error.message}`),
        )
        .finally(() => {
          this.round = undefined;
          this.arm();
        });
    });
  }

  /**
   * One round: batches of due users until a batch finds fewer than a full batch (or the process stops). Each batch
   * moves every row it takes past its `now` (a published row is the role as of now; time moves it only later), so a
   * round ends. Nothing is done while router events are off: nothing could be published, and the rows stay due.
   */
  async runOnce(): Promise<RoleSweepResult> {
    const total: RoleSweepResult = { checked: 0, published: 0 };
    if (!this.options.routerEvents) return total;
    for (;;) {
      const batch = await this.sweepBatch();
      total.checked += batch.checked;
      total.published += batch.published;
      if (batch.checked < this.options.roleSweepBatchSize || this.stopped) return total;
    }
  }

  /** One transaction: lock up to a batch of due rows, derive each user's role as of now, publish and store the differences. */
  async sweepBatch(): Promise<RoleSweepResult> {
    return this.dataSource.transaction(async (manager) => {
      const now = this.clock.now().getTime();
      const due: PublishedRoleRow[] = await manager.query(DUE_SQL, [new Date(now), this.options.roleSweepBatchSize]);
      if (due.length === 0) return { checked: 0, published: 0 };
      const rows = due.map(toPublishedRole);
      const ledger: LedgerRow[] = await manager.query(`SELECT ${LEDGER_COLUMNS} FROM karma_ledger WHERE user_id = ANY($1::text[]) ORDER BY seq`, [rows.map((r) => r.userId)]);
      const entries = new Map(rows.map((r) => [r.userId, [] as ReturnType<typeof toLedgerEntry>[]]));
      for (const row of ledger) entries.get(row.user_id)?.push(toLedgerEntry(row));

      const written: PublishedRole[] = [];
      const messages = [];
      for (const row of rows) {
        const outcome = this.engine.sweep(row, entries.get(row.userId) ?? [], now);
        written.push(outcome.row);
        if (outcome.change) messages.push(roleChangedMessage(outcome.change));
      }
      const params: unknown[] = [];
      const tuples = written.map((r) => {
        const values = publishedRoleValues(r);
        const placeholders = values.map((v) => `$${params.push(v)}`);
        return `(${placeholders.join(', ')})`;
      });
      await manager.query(`${UPSERT_PUBLISHED_ROLE} ${tuples.join(', ')} ${ON_PUBLISHED_ROLE_CONFLICT}`, params);
      // In the transaction that stores them as published: a change is published if and only if it is recorded.
      await this.outbox.enqueueAll(manager, messages);
      return { checked: rows.length, published: messages.length };
    });
  }
}
