import { HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type EnqueueInput, OutboxService } from '@pancha/outbox';
import { GroupCommit, type GroupItemOutcome } from '@pancha/service-kit';
import { DataSource } from 'typeorm';
import { Clock } from '../clock/clock';
import type { ParsedKarmaEvent } from '../engine/event-parser';
import { IngestResult, KarmaEngine } from '../engine/karma-engine';
import { roleChangedMessage } from '../router-events/role-changed';
import { BatchKarmaStore } from './batch-karma.store';
import { PgKarmaStore } from './pg-karma.store';

/**
 * One lock for every write: pg_advisory_xact_lock on this key, taken first in each ingest transaction and
 * released by its commit. Ledger seq order, Q-update order and per-user windows (cheats, caps) are then
 * one and the same order, with no lost update, across any number of Karma processes.
 */
export const KARMA_LEDGER_LOCK = 0x4b41524d; // 'KARM'

export const LEDGER_OPTIONS = Symbol('karma.ledger-options');
export interface LedgerOptions {
  /**
   * Enqueue `karma.role_changed` for Core's event router with each role change (KARMA_ROUTER_EVENTS_ENABLED). When
   * false nothing is enqueued and the stored published role stays the last one enqueued (KarmaEngine's option).
   */
  routerEvents: boolean;
  /** How often the role sweep runs, ms (KARMA_ROLE_SWEEP_INTERVAL_MS); 0 = never. */
  roleSweepIntervalMs: number;
  /** Users per sweep transaction (KARMA_ROLE_SWEEP_BATCH_SIZE). */
  roleSweepBatchSize: number;
}

/** The options of a Karma with router events and its role sweep on, every minute. */
export const DEFAULT_LEDGER_OPTIONS: LedgerOptions = { routerEvents: true, roleSweepIntervalMs: 60_000, roleSweepBatchSize: 100 };

/** Events recorded per transaction at most (group commit). */
export const MAX_BATCH = 128;

/**
 * Writes events to the ledger with group commit: events that arrive while a transaction is running wait
 * in a queue and go together into the next one, processed one after the other in arrival order. A caller's
 * promise settles only after the commit that holds its event: a reply is never sent for an event that is
 * not durable, and a database failure fails every event of the batch (503; callers' outboxes retry).
 */
@Injectable()
export class KarmaLedgerService {
  private readonly logger = new Logger(KarmaLedgerService.name);
  private readonly group = new GroupCommit<ParsedKarmaEvent, IngestResult>((events) => this.commit(events), {
    maxBatch: MAX_BATCH,
    onIsolate: (size, error) => this.logger.warn(`ingest batch of ${size} failed (${(error as Error).message}); retrying one by one`),
  });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(KarmaEngine) private readonly engine: KarmaEngine,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(OutboxService) private readonly outbox: OutboxService,
  ) {}

  ingest(event: ParsedKarmaEvent): Promise<IngestResult> {
    return this.ingestAll([event])[0];
  }

  /**
   * Queues every event before the next transaction starts, so a batch request's events share one commit
   * (up to MAX_BATCH) instead of the first going alone. One promise per event, settled after its commit.
   */
  ingestAll(events: readonly ParsedKarmaEvent[]): Promise<IngestResult>[] {
    return this.group.submitAll(events);
  }

  /** A store for reads outside any lock (profiles, the Q-table, stats without event_id). */
  reader(): PgKarmaStore {
    return new PgKarmaStore(this.dataSource.manager);
  }

  /** One transaction under the ledger lock for the group's events, in arrival order; a refused event fails alone. */
  private commit(batch: readonly ParsedKarmaEvent[]): Promise<GroupItemOutcome<IngestResult>[]> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KARMA_LEDGER_LOCK]);
      const store = await BatchKarmaStore.open(
        manager,
        batch.map((event) => event.eventId),
        batch.map((event) => event.userId),
      );
      const done: GroupItemOutcome<IngestResult>[] = [];
      for (const event of batch) {
        try {
          done.push({ ok: true, result: await this.engine.ingest(store, event, this.clock.now().getTime()) });
        } catch (error) {
          // The engine refuses (404, 409, …) before it writes anything, so the batch goes on without it.
          if (!(error instanceof HttpException)) throw error;
          done.push({ ok: false, error });
        }
      }
      await store.flush();
      // In the same transaction as the ledger rows: a role change is published if and only if it is recorded (the
      // engine returns none when router events are off, and then leaves the stored published role as it was).
      const messages: EnqueueInput[] = [];
      for (const o of done) if (o.ok) messages.push(...o.result.roleChanges.map(roleChangedMessage));
      await this.outbox.enqueueAll(manager, messages);
      return done;
    });
  }
}
