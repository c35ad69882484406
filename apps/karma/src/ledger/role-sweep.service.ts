import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { OutboxService } from '@pancha/outbox';
import { DataSource } from 'typeorm';
import { Clock } from '../clock/clock';
import { KarmaEngine, roleSweepLookbackMs, type SweepOutcome } from '../engine/karma-engine';
import type { PublishedRole } from '../engine/karma-store';
import type { LedgerEntry } from '../model/ledger-entry';
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

/** What one sweep round did: users whose role it derived and settled, and role changes enqueued. */
export interface RoleSweepResult {
  checked: number;
  published: number;
}

/** What one batch did: the round's result, how many users it claimed, those it left (written meanwhile), and of them those whose row an ingest batch held. */
interface BatchResult extends RoleSweepResult {
  claimed: number;
  left: string[];
  skipped: string[];
}

/**
 * How long a batch's claim keeps other rounds (another replica's) off its users, by PostgreSQL's clock: the claim is
 * cleared when the batch settles or anything writes the row, and lapses by itself only after a crashed or stalled batch.
 */
export const ROLE_SWEEP_CLAIM_MS = 10 * 60_000;

/**
 * Claims up to a batch of due rows in one statement: the row locks last as long as it does (SKIP LOCKED: a row an
 * ingest batch holds is its own to settle; so is one another round claimed). The latest moments first, so that a
 * backlog (the upgrade makes every user due at the epoch; a long stop) does not hold back the changes happening now:
 * each batch takes the rows that became due meanwhile before older ones, and the backlog is worked off behind them.
 * Returned in the order they were due.
 */
const CLAIM_SQL = `
  WITH claimed AS (
    UPDATE karma_published_role SET sweep_claimed_until = clock_timestamp() + $3 * interval '1 millisecond'
    FROM (
      SELECT user_id AS due_user FROM karma_published_role
      WHERE next_time_change_at <= $1 AND (sweep_claimed_until IS NULL OR sweep_claimed_until <= clock_timestamp())
        AND NOT (user_id = ANY($4::text[]))
      ORDER BY next_time_change_at DESC
      LIMIT $2
      FOR UPDATE SKIP LOCKED) due
    WHERE user_id = due_user
    RETURNING ${PUBLISHED_ROLE_COLUMNS}, sweep_claimed_until::text AS claim)
  SELECT * FROM claimed ORDER BY next_time_change_at, user_id`;

/**
 * Lets go of the claims a batch could not settle because an ingest batch held the row (an event that writes nothing
 * to it, a stats request, a replay, leaves the claim in place): each only if it is still this batch's (the text of the
 * time it set, µs and all), never another round's claim made since.
 */
const RELEASE_CLAIMS_SQL = `
  UPDATE karma_published_role p SET sweep_claimed_until = NULL
  FROM unnest($1::text[], $2::text[]) AS c(user_id, claim)
  WHERE p.user_id = c.user_id AND p.sweep_claimed_until::text = c.claim`;

/**
 * Publishes the role changes time makes (grants and penalties expiring, decay) when they happen, not at the user's next
 * event: every KARMA_ROLE_SWEEP_INTERVAL_MS (0 = off; off too when router events are) a round takes the users whose
 * karma_published_role row is due (next_time_change_at ≤ now, Karma's Clock), walks each one's ledger from the moment
 * the row says the role may first have moved to now (KarmaEngine.sweep) and enqueues every change found, at the moment
 * it happened and in order, as `karma.role_changed` (cause `time`, or `event` for a change an event made while router
 * events were off) through the outbox with the ordering key of the event path, storing the last one as the published
 * role with the next moment to look; batches of KARMA_ROLE_SWEEP_BATCH_SIZE users until no due row is left.
 *
 * A batch never holds a lock while it folds ledgers, so an ingest batch (which holds the global ledger lock) never
 * waits for a fold: (1) one statement claims the due rows (CLAIM_SQL; the claim keeps other replicas' rounds off them);
 * (2) their ledgers are read and folded with no transaction open; (3) a short transaction locks the rows it can (FOR
 * UPDATE SKIP LOCKED: a row an ingest batch holds is left to it) and settles only the users whose row and ledger are
 * still what was folded (the last ledger seq tells: an ingest batch writes a user's entries only while it holds the
 * user's row lock, so none can be added between this check and the commit). A user written meanwhile is left to the
 * next round, unless the event that wrote it settled it; either way one user's changes are published by one
 * transaction at a time, each reading the row the one before it committed, so nothing is published twice with any
 * number of replicas. Nothing lives only in memory: a crashed round leaves its rows due (claimed for
 * ROLE_SWEEP_CLAIM_MS).
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
   * One round: batches of due users until a batch claims fewer than a full batch (or the process stops). Each batch
   * moves every row it settles past its `now` (a published row is the role as of now; time moves it only later), and a
   * user written meanwhile is not taken again in this round, so a round ends. Nothing is done while router events are
   * off: nothing could be published, and the rows stay due.
   */
  async runOnce(): Promise<RoleSweepResult> {
    const total: RoleSweepResult = { checked: 0, published: 0 };
    if (!this.options.routerEvents) return total;
    const left: string[] = [];
    for (;;) {
      const batch = await this.sweepBatch(left);
      total.checked += batch.checked;
      total.published += batch.published;
      left.push(...batch.left);
      if (batch.claimed < this.options.roleSweepBatchSize || this.stopped) return total;
    }
  }

  /** One batch: claim due users (but not `skip`), fold their ledgers with no lock held, settle those still as folded. */
  async sweepBatch(skip: readonly string[] = []): Promise<BatchResult> {
    const now = this.clock.now().getTime();
    const claimed: (PublishedRoleRow & { claim: string })[] = await this.dataSource.query(CLAIM_SQL, [new Date(now), this.options.roleSweepBatchSize, ROLE_SWEEP_CLAIM_MS, skip]);
    if (claimed.length === 0) return { claimed: 0, checked: 0, published: 0, left: [], skipped: [] };
    const rows = claimed.map(toPublishedRole);
    const ledger: LedgerRow[] = await this.dataSource.query(`SELECT ${LEDGER_COLUMNS} FROM karma_ledger WHERE user_id = ANY($1::text[]) ORDER BY seq`, [
      rows.map((r) => r.userId),
    ]);
    const entries = new Map(rows.map((r) => [r.userId, [] as LedgerEntry[]]));
    for (const row of ledger) entries.get(row.user_id)?.push(toLedgerEntry(row));
    const outcomes = await this.fold(rows, entries, now);
    const lastSeq = (userId: string) => entries.get(userId)?.at(-1)?.seq ?? null;
    const result = await this.settle(rows.map((row, i) => ({ row, lastSeq: lastSeq(row.userId), outcome: outcomes[i] })));
    // A row an ingest batch held at settle time: its claim is let go now (that batch has committed or soon will; this
    // waits for it), so the user is due to the next round instead of passed over until the claim lapses.
    const skipped = claimed.filter((c) => result.skipped.includes(c.user_id));
    if (skipped.length > 0) await this.dataSource.query(RELEASE_CLAIMS_SQL, [skipped.map((c) => c.user_id), skipped.map((c) => c.claim)]);
    return result;
  }

  /** Each user's walk (KarmaEngine.sweep), yielding to the event loop between users: no lock is held meanwhile. */
  private async fold(rows: readonly PublishedRole[], entries: ReadonlyMap<string, LedgerEntry[]>, now: number): Promise<SweepOutcome[]> {
    const outcomes: SweepOutcome[] = [];
    for (const row of rows) {
      outcomes.push(this.engine.sweep(row, entries.get(row.userId) ?? [], now, roleSweepLookbackMs(this.options.roleSweepIntervalMs)));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return outcomes;
  }

  /**
   * One short transaction: lock the claimed rows no one else holds, and publish and store the outcome of each user
   * whose row and last ledger seq are still those that were folded (in the transaction that stores them as published:
   * a change is published if and only if it is recorded). The others' claims are released: they are left as written.
   */
  private async settle(folded: ReadonlyArray<{ row: PublishedRole; lastSeq: number | null; outcome: SweepOutcome }>): Promise<BatchResult> {
    return this.dataSource.transaction(async (manager) => {
      const ids = folded.map((f) => f.row.userId);
      const locked: PublishedRoleRow[] = await manager.query(
        `SELECT ${PUBLISHED_ROLE_COLUMNS} FROM karma_published_role WHERE user_id = ANY($1::text[]) FOR UPDATE SKIP LOCKED`,
        [ids],
      );
      // After the locks (a statement of its own, so its snapshot is taken once they are held): no entry can be added now.
      const heads: Array<{ user_id: string; seq: string }> = locked.length
        ? await manager.query(`SELECT user_id, max(seq)::text AS seq FROM karma_ledger WHERE user_id = ANY($1::text[]) GROUP BY user_id`, [locked.map((r) => r.user_id)])
        : [];
      const held = new Map(locked.map((r) => [r.user_id, toPublishedRole(r)]));
      const head = new Map(heads.map((h) => [h.user_id, Number(h.seq)]));
      const settled = folded.filter((f) => {
        const current = held.get(f.row.userId);
        return current !== undefined && samePublishedRole(current, f.row) && (head.get(f.row.userId) ?? null) === f.lastSeq;
      });
      const written = new Set(settled.map((f) => f.row.userId));
      const changed = [...held.keys()].filter((id) => !written.has(id));
      if (settled.length > 0) {
        const params: unknown[] = [];
        const tuples = settled.map((f) => `(${publishedRoleValues(f.outcome.row).map((v) => `$${params.push(v)}`).join(', ')})`);
        await manager.query(`${UPSERT_PUBLISHED_ROLE} ${tuples.join(', ')} ${ON_PUBLISHED_ROLE_CONFLICT}`, params);
      }
      if (changed.length > 0) await manager.query(`UPDATE karma_published_role SET sweep_claimed_until = NULL WHERE user_id = ANY($1::text[])`, [changed]);
      const messages = settled.flatMap((f) => f.outcome.changes.map(roleChangedMessage));
      await this.outbox.enqueueAll(manager, messages);
      return {
        claimed: folded.length,
        checked: settled.length,
        published: messages.length,
        left: ids.filter((id) => !written.has(id)),
        skipped: ids.filter((id) => !held.has(id)),
      };
    });
  }
}

/** Whether two reads of a user's row are the same (the sweep claim aside). */
function samePublishedRole(a: PublishedRole, b: PublishedRole): boolean {
  return (
    a.role === b.role &&
    a.ledgerSeq === b.ledgerSeq &&
    a.at === b.at &&
    a.nextTimeChangeAt === b.nextTimeChangeAt &&
    a.unpublishedEventSeq === b.unpublishedEventSeq
  );
}
