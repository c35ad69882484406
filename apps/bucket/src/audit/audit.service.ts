import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { canonicalJson, GENESIS_HASH } from '@pancha/contracts';
import type { AuditVerifyResult, CheckpointPayload, SignedCheckpoint } from '@pancha/contracts';
import { sign } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ChainVerifier } from '../chain/chain-verifier';
import { BucketConfig } from '../config/env.validation';
import { ENTRY_COLUMNS_SQL, timestampSql, toBucketEntry } from '../ledger/ledger-sql';
import type { EntryRow } from '../ledger/ledger-sql';
import { CheckpointKey } from './checkpoint-key';

@Injectable()
export class AuditService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: BucketConfig,
    private readonly key: CheckpointKey,
  ) {}

  /**
   * Recomputes the whole chain from the rows, BUCKET_VERIFY_BATCH_SIZE rows at a time, inside one
   * REPEATABLE READ snapshot so concurrent appends neither hide nor half-show an entry.
   */
  async verify(): Promise<AuditVerifyResult> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction('REPEATABLE READ');
      const verifier = new ChainVerifier();
      const batch = this.config.BUCKET_VERIFY_BATCH_SIZE;
      for (let after = 0; ; ) {
        const rows = (await runner.query(
          `SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE seq > $1 ORDER BY seq LIMIT $2`,
          [after, batch],
        )) as EntryRow[];
        for (const row of rows) verifier.push(toBucketEntry(row));
        if (rows.length < batch) break;
        after = Number(rows[rows.length - 1].seq);
      }
      await runner.commitTransaction();
      return verifier.result();
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
  }

  /** The current head, signed: an auditor who keeps it can later prove the chain was not cut back or rewritten. */
  async checkpoint(): Promise<SignedCheckpoint> {
    const [row] = (await this.dataSource.query(
      `SELECT ${timestampSql('clock_timestamp()')} AS now, h.seq, h.hash
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (SELECT seq, hash FROM bucket_entries ORDER BY seq DESC LIMIT 1) AS h ON true`,
    )) as Array<{ now: string; seq: string | null; hash: string | null }>;
    const payload: CheckpointPayload = {
      size: row.seq === null ? 0 : Number(row.seq),
      head_hash: row.hash ?? GENESIS_HASH,
      timestamp: row.now,
    };
    const signature = sign(null, Buffer.from(canonicalJson(payload), 'utf8'), this.key.privateKey).toString('base64url');
    return { ...payload, signature, key_id: 'bucket', alg: 'Ed25519' };
  }
}
