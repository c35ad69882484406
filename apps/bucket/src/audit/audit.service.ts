import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { OutboxService } from '@pancha/outbox';
import { canonicalJson, ChainFault } from '@pancha/contracts';
import type { AuditVerifyResult, CheckpointPayload, SignedCheckpoint } from '@pancha/contracts';
import { sign } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { ChainVerifier } from '../chain/chain-verifier';
import { BucketConfig } from '../config/env.validation';
import { recordVerification } from '../ledger/bucket-metrics';
import { LedgerReader } from '../ledger/ledger-reader';
import { verifyFailedMessage } from '../router-events/verify-failed';
import { CheckpointKey } from './checkpoint-key';

/** Faults found against the verified point itself: the point stays, so every later run reports them too. */
// Faults every incremental run finds again against the point by itself, so the point is kept: a hole below it is
// counted each run (and a chain then cut back below the hole still fails as truncated).
const ANCHOR_FAULTS = new Set<ChainFault | undefined>([ChainFault.Truncated, ChainFault.CheckpointMismatch, ChainFault.SeqGap]);

interface VerifiedPoint {
  size: number;
  head_hash: string;
}

interface Run {
  full: boolean;
  result: Promise<AuditVerifyResult>;
}

@Injectable()
export class AuditService {
  /** The newest point this process found the chain sound up to: incremental runs start after it. */
  private verified: VerifiedPoint | undefined;
  /** The verification running now: at most one at a time, and callers arriving meanwhile share it. */
  private running: Run | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: BucketConfig,
    private readonly key: CheckpointKey,
    private readonly reader: LedgerReader,
    private readonly outbox: OutboxService,
  ) {}

  /**
   * Verifies the chain, one verification at a time per process: a caller arriving while one runs gets its
   * result (a full request waits for a running incremental one, then runs). Incremental (the default)
   * re-hashes only the entries after the last verified point, after checking the chain still reaches that
   * point with the same hash (so cutting it back or rewriting it with re-computed hashes is found); `full`
   * re-hashes everything, which also finds an old entry edited without re-hashing.
   */
  async verify(options: { full?: boolean } = {}): Promise<AuditVerifyResult> {
    const full = options.full === true;
    for (;;) {
      const running = this.running;
      if (!running) break;
      if (running.full || !full) return running.result;
      await running.result.catch(() => undefined);
    }
    const run: Run = { full, result: this.run(full) };
    this.running = run;
    run.result.then((r) => recordVerification(full, r.ok), () => recordVerification(full, undefined));
    try {
      return await run.result;
    } finally {
      if (this.running === run) this.running = undefined;
    }
  }

  /**
   * Walks the rows BUCKET_VERIFY_BATCH_SIZE at a time inside one REPEATABLE READ snapshot (concurrent appends
   * neither hide nor half-show an entry, and are not blocked), yielding to the event loop between batches so
   * the requests this process serves meanwhile (appends above all) are not starved by the hashing.
   */
  private async run(full: boolean): Promise<AuditVerifyResult> {
    const anchor = this.verified;
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction('REPEATABLE READ');
      const result = await this.walk(runner.manager, anchor, full);
      // A finding is published to Core's router (deduplicated per finding) before the answer says it: once the
      // caller sees ok: false, the event is durable.
      const message = this.config.BUCKET_ROUTER_EVENTS_ENABLED ? verifyFailedMessage(result, new Date()) : undefined;
      if (message) await this.outbox.enqueue(runner.manager, message);
      await runner.commitTransaction();
      if (result.ok) this.verified = { size: result.size, head_hash: result.head_hash };
      // An entry the last verification vouched for is bad (edited without re-hashing): until a full walk passes
      // again, every run walks from seq 1, so the fault keeps being reported instead of hidden behind the point.
      else if (anchor && result.first_bad_seq !== undefined && result.first_bad_seq <= anchor.size && !ANCHOR_FAULTS.has(result.reason)) {
        this.verified = undefined;
      }
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
  }

  /**
   * Every run first checks the chain still reaches the last verified point with the same hash: a chain cut back
   * below it or rewritten with re-computed hashes fails here even when it is self-consistent (and the point
   * stays, so it keeps failing). Then the entries are re-hashed from that point (incremental) or from seq 1.
   */
  private async walk(manager: EntityManager, anchor: VerifiedPoint | undefined, full: boolean): Promise<AuditVerifyResult> {
    if (anchor && anchor.size > 0) {
      const head = await this.reader.head(manager);
      const base = { ok: false, size: head.size, head_hash: head.head_hash, verified_from: full ? 0 : anchor.size };
      if (head.size < anchor.size) return { ...base, first_bad_seq: head.size + 1, reason: ChainFault.Truncated };
      if ((await this.reader.hashAt(anchor.size, manager)) !== anchor.head_hash) {
        return { ...base, first_bad_seq: anchor.size, reason: ChainFault.CheckpointMismatch };
      }
      // An entry deleted below the point leaves the point's hash as it was: counted here, since the incremental run
      // re-hashes nothing before it (a full walk finds the hole itself, with any earlier fault first).
      const missing = full ? undefined : await this.reader.firstMissingThrough(anchor.size, manager);
      if (missing !== undefined) return { ...base, first_bad_seq: missing, reason: ChainFault.SeqGap };
    }
    const from = full ? undefined : anchor;
    const verifier = new ChainVerifier(from);
    const batch = this.config.BUCKET_VERIFY_BATCH_SIZE;
    for (let after = from?.size ?? 0; ; ) {
      const entries = await this.reader.batchAfter(after, batch, manager);
      for (const entry of entries) verifier.push(entry);
      if (entries.length < batch) break;
      after = entries[entries.length - 1].seq;
      await yieldToEventLoop();
    }
    return { ...verifier.result(), verified_from: from?.size ?? 0 };
  }

  /** The current head, signed: an auditor who keeps it can later prove the chain was not cut back or rewritten. */
  async checkpoint(): Promise<SignedCheckpoint> {
    const head = await this.reader.head();
    const payload: CheckpointPayload = { size: head.size, head_hash: head.head_hash, timestamp: head.now };
    const signature = sign(null, Buffer.from(canonicalJson(payload), 'utf8'), this.key.privateKey).toString('base64url');
    return { ...payload, signature, key_id: 'bucket', alg: 'Ed25519' };
  }
}
