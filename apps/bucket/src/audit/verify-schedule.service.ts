import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { AuditVerifyResult } from '@pancha/contracts';
import { DataSource } from 'typeorm';
import { BucketConfig } from '../config/env.validation';
import { AuditService } from './audit.service';

/**
 * Session-level advisory lock held while a scheduled verification runs, so replicas sharing the database never
 * run two at once. Fixed and arbitrary ("BVFY"), distinct from the append lock (CHAIN_LOCK_KEY, "BUKT").
 */
export const VERIFY_LOCK_KEY = 0x42564659;

/** What one scheduled round did: verified, or left it to the replica that holds the lock. */
export type ScheduledVerification = { ran: true; result: AuditVerifyResult } | { ran: false; reason: 'locked_elsewhere' };

/** setTimeout behind a provider, so a test can fire the schedule itself. */
@Injectable()
export class VerifyTimer {
  /** Calls `fire` once after `ms`; returns the cancel. The timer does not keep the process alive. */
  start(ms: number, fire: () => void): () => void {
    const timer = setTimeout(fire, ms);
    timer.unref();
    return () => clearTimeout(timer);
  }
}

/**
 * Runs the chain verifier every BUCKET_VERIFY_INTERVAL_MS (0 = never), so a fault is published as
 * `audit.verify_failed` (AuditService enqueues it) without anyone calling GET /audit/verify. Each round is
 * incremental from the last point this process found sound (AuditService; the first round of a process walks from
 * seq 1). The next round is armed only when the previous one has finished, so rounds never overlap in a process,
 * and a round runs only under VERIFY_LOCK_KEY (pg_try_advisory_lock: a replica that finds it taken skips that
 * round), so they never overlap across replicas. A round that fails (database down) is logged and the schedule
 * goes on.
 */
@Injectable()
export class VerifySchedule implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(VerifySchedule.name);
  private cancel: (() => void) | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: BucketConfig,
    private readonly audit: AuditService,
    private readonly timer: VerifyTimer,
  ) {}

  onApplicationBootstrap(): void {
    this.arm();
  }

  /** Before the database closes: no new round, and the running one finishes (its finding stays durable). */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    await this.round;
  }

  private arm(): void {
    const interval = this.config.BUCKET_VERIFY_INTERVAL_MS;
    if (interval <= 0 || this.stopped) return;
    this.cancel = this.timer.start(interval, () => {
      this.cancel = undefined;
      this.round = this.runOnce()
        .then(
          (outcome) => {
            if (outcome.ran && !outcome.result.ok) {
              const { first_bad_seq, reason } = outcome.result;
              this.logger.warn(`scheduled chain verification found a fault at seq ${first_bad_seq} (${reason}); audit.verify_failed enqueued`);
            }
          },
          (error: Error) => this.logger.warn(`scheduled chain verification failed: ${error.message}`),
        )
        .finally(() => {
          this.round = undefined;
          this.arm();
        });
    });
  }

  /** One scheduled round: verifies (incrementally) unless another replica holds the lock. */
  async runOnce(): Promise<ScheduledVerification> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [VERIFY_LOCK_KEY])) as Array<{ locked: boolean }>;
      if (!locked) return { ran: false, reason: 'locked_elsewhere' };
      try {
        return { ran: true, result: await this.audit.verify() };
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [VERIFY_LOCK_KEY]);
      }
    } finally {
      await runner.release();
    }
  }
}
