import { Injectable, Logger, type OnApplicationBootstrap, type BeforeApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { BucketClient, verifyCheckpoint } from '@pancha/bucket-client';
import { ChainFault, RequesterId } from '@pancha/contracts';
import type { SignedCheckpoint, WitnessedVerifyResult } from '@pancha/contracts';
import { KeyStore } from '@pancha/governance';
import { DataSource } from 'typeorm';
import { CoreConfig } from '../config/env.validation';

/** A checkpoint as Core keeps it (witnessed_at is Core's clock). */
export interface WitnessedCheckpoint {
  size: number;
  head_hash: string;
  timestamp: string;
  witnessed_at: string;
}

/** What a witness round found: a new checkpoint kept, nothing new, or a checkpoint that does not extend the last one. */
export type WitnessOutcome =
  | { kind: 'stored' | 'unchanged'; checkpoint: WitnessedCheckpoint }
  | { kind: 'fault'; reason: ChainFault; first_bad_seq: number; witnessed: WitnessedCheckpoint };

export class CheckpointSignatureError extends Error {}

/**
 * Core as Bucket's witness: it fetches Bucket's signed checkpoint (every AUDIT_WITNESS_INTERVAL_MS and on every
 * verification), checks Bucket's signature with the pinned `bucket.pub.pem`, checks it extends the latest one it
 * kept (larger, and the entry at the kept size still has the kept hash), and keeps it in Core's own database.
 * Core's GET /audit/verify then compares Bucket's chain with that latest witnessed checkpoint.
 */
@Injectable()
export class AuditWitnessService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditWitnessService.name);
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<WitnessOutcome> | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly bucket: BucketClient,
    private readonly keys: KeyStore,
    private readonly config: CoreConfig,
  ) {}

  onApplicationBootstrap(): void {
    const interval = this.config.AUDIT_WITNESS_INTERVAL_MS;
    if (interval <= 0) return;
    this.timer = setInterval(() => {
      this.witness().catch((error: Error) => this.logger.warn(`audit witness round skipped: ${error.message}`));
    }, interval);
    this.timer.unref();
  }

  /** Stops the rounds and waits out one in flight, before the database closes under its checkpoint write. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.round?.catch(() => undefined);
  }

  /** The newest checkpoint Core kept, or null. */
  async latest(): Promise<WitnessedCheckpoint | null> {
    const [row] = (await this.dataSource.query(
      `SELECT size, head_hash, timestamp, to_char(witnessed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS witnessed_at
       FROM audit_checkpoints ORDER BY size DESC LIMIT 1`,
    )) as Array<Omit<WitnessedCheckpoint, 'size'> & { size: string }>;
    return row ? { ...row, size: Number(row.size) } : null;
  }

  /** One witness round (rounds never overlap: a caller arriving during one shares it). */
  witness(): Promise<WitnessOutcome> {
    this.round ??= this.witnessOnce().finally(() => (this.round = undefined));
    return this.round;
  }

  /**
   * Bucket's verification compared with the latest witnessed checkpoint: a chain shorter than it was truncated,
   * one whose entry at its size has another hash was rewritten, whatever Bucket's own walk says. When the chain
   * is sound, the current checkpoint is witnessed too.
   */
  async verify(options: { full?: boolean } = {}): Promise<WitnessedVerifyResult> {
    const [result, witnessed] = await Promise.all([this.bucket.verify(options), this.latest()]);
    if (witnessed && witnessed.size > 0) {
      if (result.size < witnessed.size) {
        return { ...result, ok: false, first_bad_seq: result.size + 1, reason: ChainFault.Truncated, witnessed };
      }
      if ((await this.hashAt(witnessed.size)) !== witnessed.head_hash) {
        return { ...result, ok: false, first_bad_seq: witnessed.size, reason: ChainFault.CheckpointMismatch, witnessed };
      }
    }
    if (!result.ok) return { ...result, witnessed };
    const outcome = await this.witness();
    return { ...result, witnessed: outcome.kind === 'fault' ? outcome.witnessed : outcome.checkpoint };
  }

  private async witnessOnce(): Promise<WitnessOutcome> {
    const checkpoint = await this.bucket.checkpoint();
    const bucketKey = this.keys.peerKey(RequesterId.Bucket);
    if (!bucketKey || !verifyCheckpoint(checkpoint, bucketKey)) {
      throw new CheckpointSignatureError(`Bucket's checkpoint (size ${checkpoint.size}) is not signed by the pinned bucket key`);
    }
    const last = await this.latest();
    if (last) {
      if (checkpoint.size < last.size) return { kind: 'fault', reason: ChainFault.Truncated, first_bad_seq: checkpoint.size + 1, witnessed: last };
      if (last.size > 0 && (await this.hashAt(last.size)) !== last.head_hash) {
        return { kind: 'fault', reason: ChainFault.CheckpointMismatch, first_bad_seq: last.size, witnessed: last };
      }
      if (checkpoint.size === last.size) {
        if (checkpoint.head_hash !== last.head_hash) {
          return { kind: 'fault', reason: ChainFault.CheckpointMismatch, first_bad_seq: last.size, witnessed: last };
        }
        return { kind: 'unchanged', checkpoint: last };
      }
    }
    await this.store(checkpoint);
    return { kind: 'stored', checkpoint: (await this.latest()) as WitnessedCheckpoint };
  }

  private async store(checkpoint: SignedCheckpoint): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO audit_checkpoints (size, head_hash, timestamp, signature) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING`,
      [checkpoint.size, checkpoint.head_hash, checkpoint.timestamp, checkpoint.signature],
    );
  }

  /** The hash Bucket now serves for the entry at `seq` (Core reads every product). */
  private async hashAt(seq: number): Promise<string | undefined> {
    const page = await this.bucket.events({ after_seq: seq - 1, limit: 1 });
    const entry = page.events[0];
    return entry?.seq === seq ? entry.hash : undefined;
  }
}
