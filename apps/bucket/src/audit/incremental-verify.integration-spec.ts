/**
 * Verification is incremental (only entries after the last verified point are re-hashed, after checking the
 * chain still reaches that point with the same hash), one at a time per process, and a full walk on demand.
 */
import { ChainFault } from '@pancha/contracts';
import { buildDataSourceOptions } from '@pancha/service-kit';
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { OutboxService } from '@pancha/outbox';
import { DataSource } from 'typeorm';
import { sealEntry } from '../chain/chain-hash';
import { BucketConfig } from '../config/env.validation';
import { BUCKET_ENTITIES, BUCKET_MIGRATIONS } from '../database';
import { LedgerReader } from '../ledger/ledger-reader';
import { LedgerService } from '../ledger/ledger.service';
import { AuditService } from './audit.service';
import { CheckpointKey } from './checkpoint-key';

jest.setTimeout(120_000);

// The verify_failed events are tested with the app (router-events/verify-failed.integration-spec.ts).
const noOutbox = { enqueue: () => Promise.reject(new Error('router events are off in this test')) } as unknown as OutboxService;

describe('AuditService.verify: incremental, one at a time (real PostgreSQL)', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let ledger: LedgerService;
  let reader: LedgerReader;

  const newAudit = () =>
    new AuditService(
      dataSource,
      Object.assign(new BucketConfig(), { BUCKET_VERIFY_BATCH_SIZE: 10, BUCKET_ROUTER_EVENTS_ENABLED: false }),
      new CheckpointKey(generateKeyPairSync('ed25519').privateKey),
      reader,
      noOutbox,
    );

  const append = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const event_id = randomUUID();
      await ledger.append([
        { event_id, requester_id: 'bhiv_core', channel: 'core', event_type: 't', trace_id: null, product: null, user_id: null, event_data: { event_id, event_type: 't', i } },
      ]);
    }
  };

  /** What an attacker with the database's superuser does: triggers off, change, triggers on. */
  const tamper = async (statements: Array<[string, unknown[]?]>) => {
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query('ALTER TABLE bucket_entries DISABLE TRIGGER ALL');
      for (const [sql, params] of statements) await runner.query(sql, params);
      await runner.query('ALTER TABLE bucket_entries ENABLE TRIGGER ALL');
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
  };

  /** Rewrites every entry from `fromSeq` on with new content and re-computed hashes: a self-consistent forgery. */
  const rewriteTail = async (fromSeq: number) => {
    const rows = await reader.batchAfter(0, 100_000);
    let prev = rows[fromSeq - 2]?.hash ?? '0'.repeat(64);
    const statements: Array<[string, unknown[]]> = [];
    for (const row of rows.filter((r) => r.seq >= fromSeq)) {
      const forged = sealEntry(prev, { ...row, event_data: { ...row.event_data, forged: true } });
      statements.push([
        'UPDATE bucket_entries SET event_data = $1::jsonb, content_hash = $2, prev_hash = $3, hash = $4 WHERE seq = $5',
        [JSON.stringify(forged.event_data), forged.content_hash, forged.prev_hash, forged.hash, row.seq],
      ]);
      prev = forged.hash;
    }
    await tamper(statements);
  };

  beforeEach(async () => {
    db = await createTestDatabase('bucket_verify');
    dataSource = new DataSource(buildDataSourceOptions({ url: db.url, entities: BUCKET_ENTITIES, migrations: BUCKET_MIGRATIONS, poolSize: 12 }));
    await dataSource.initialize();
    ledger = new LedgerService(dataSource);
    reader = new LedgerReader(dataSource);
  });

  afterEach(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('re-hashes only the entries appended since the last verification', async () => {
    const audit = newAudit();
    await append(25);
    await expect(audit.verify()).resolves.toMatchObject({ ok: true, size: 25, verified_from: 0 });
    await append(7);
    const batches = jest.spyOn(reader, 'batchAfter');
    const head = await reader.head();
    await expect(audit.verify()).resolves.toEqual({ ok: true, size: 32, head_hash: head.head_hash, verified_from: 25 });
    // Entries 26..32 only: one batch of 7 (batch size 10), nothing before seq 25 read.
    expect(batches.mock.calls.map(([after]) => after)).toEqual([25]);
    await expect(audit.verify({ full: true })).resolves.toMatchObject({ ok: true, size: 32, verified_from: 0 });
  });

  it('finds the tail rewritten with re-computed hashes (self-consistent) at the verified point, and keeps finding it', async () => {
    const audit = newAudit();
    await append(20);
    await audit.verify();
    await rewriteTail(15);
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, first_bad_seq: 20, reason: ChainFault.CheckpointMismatch });
    // A full walk alone would find the forgery consistent; against the verified point it is not.
    await expect(audit.verify({ full: true })).resolves.toMatchObject({ ok: false, first_bad_seq: 20, reason: ChainFault.CheckpointMismatch });
    await append(3);
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, reason: ChainFault.CheckpointMismatch });
  });

  it('finds the newest entries deleted (truncation) and everything deleted', async () => {
    const audit = newAudit();
    await append(12);
    await audit.verify();
    await tamper([['DELETE FROM bucket_entries WHERE seq > 9']]);
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, size: 9, first_bad_seq: 10, reason: ChainFault.Truncated });
    await tamper([['DELETE FROM bucket_entries']]);
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, size: 0, first_bad_seq: 1, reason: ChainFault.Truncated });
  });

  it('finds an old entry deleted below the verified point, and keeps finding it, the point kept', async () => {
    const audit = newAudit();
    await append(14);
    await audit.verify();
    await tamper([['DELETE FROM bucket_entries WHERE seq = 3']]);
    // The point (seq 14) still has its hash; only the count below it shows the hole.
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, size: 14, first_bad_seq: 3, reason: ChainFault.SeqGap, verified_from: 14 });
    await expect(audit.verify({ full: true })).resolves.toMatchObject({ ok: false, first_bad_seq: 3, reason: ChainFault.SeqGap });
    await append(2);
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, size: 16, first_bad_seq: 3, reason: ChainFault.SeqGap });
    // The point was kept: cutting the chain back below the hole is still found against it.
    await tamper([['DELETE FROM bucket_entries WHERE seq > 2']]);
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, size: 2, reason: ChainFault.Truncated });
  });

  it('names the first of several holes below the point, the first row included', async () => {
    const audit = newAudit();
    await append(10);
    await audit.verify();
    await tamper([['DELETE FROM bucket_entries WHERE seq IN (1, 6, 7)']]);
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, first_bad_seq: 1, reason: ChainFault.SeqGap });
  });

  it('leaves an old entry edited without re-hashing to the full walk, which then keeps every run reporting it', async () => {
    const audit = newAudit();
    await append(15);
    await audit.verify();
    await tamper([[`UPDATE bucket_entries SET event_data = event_data || '{"edited": true}' WHERE seq = 4`]]);
    // Incremental: the verified prefix is only anchored, so this edit waits for a full walk (documented trade-off).
    await expect(audit.verify()).resolves.toMatchObject({ ok: true, size: 15 });
    await expect(audit.verify({ full: true })).resolves.toMatchObject({ ok: false, first_bad_seq: 4, reason: ChainFault.ContentHashMismatch });
    await expect(audit.verify()).resolves.toMatchObject({ ok: false, first_bad_seq: 4, reason: ChainFault.ContentHashMismatch });
  });

  it('runs one verification at a time: 8 concurrent callers share one walk', async () => {
    const audit = newAudit();
    await append(30);
    const runners = jest.spyOn(dataSource, 'createQueryRunner');
    const results = await Promise.all(Array.from({ length: 8 }, () => audit.verify({ full: true })));
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(results[0]).toMatchObject({ ok: true, size: 30 });
    expect(runners).toHaveBeenCalledTimes(1);
    // A full request arriving during an incremental run waits for it, then walks everything itself.
    runners.mockClear();
    const [incremental, full] = await Promise.all([audit.verify(), audit.verify({ full: true })]);
    expect(incremental).toMatchObject({ ok: true, verified_from: 30 });
    expect(full).toMatchObject({ ok: true, verified_from: 0 });
    expect(runners).toHaveBeenCalledTimes(2);
  });
});
