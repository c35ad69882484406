import { GENESIS_HASH } from '@pancha/contracts';
import { buildDataSourceOptions } from '@pancha/service-kit';
import { createTestDatabase, holdTable, poll, type TestDatabase } from '@pancha/testing';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { OutboxService } from '@pancha/outbox';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { CheckpointKey } from '../audit/checkpoint-key';
import { BucketConfig } from '../config/env.validation';
import { BUCKET_ENTITIES, BUCKET_MIGRATIONS } from '../database';
import { LedgerReader } from './ledger-reader';
import { LedgerService, type NewEvent } from './ledger.service';

function event(overrides: Partial<NewEvent> = {}): NewEvent {
  const event_id = overrides.event_id ?? randomUUID();
  return {
    event_id,
    requester_id: 'bhiv_core',
    channel: 'core',
    event_type: 'test_event',
    trace_id: null,
    product: null,
    user_id: null,
    event_data: { event_id, event_type: 'test_event', n: Math.random() },
    ...overrides,
  };
}

describe('LedgerService on PostgreSQL', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let ledger: LedgerService;
  let audit: AuditService;

  beforeAll(async () => {
    db = await createTestDatabase('bucket_ledger');
    dataSource = new DataSource(buildDataSourceOptions({ url: db.url, entities: BUCKET_ENTITIES, migrations: BUCKET_MIGRATIONS, poolSize: 10 }));
    await dataSource.initialize();
    ledger = new LedgerService(dataSource);
    // The verify_failed events are tested with the app (router-events/verify-failed.integration-spec.ts).
    const config = Object.assign(new BucketConfig(), { BUCKET_VERIFY_BATCH_SIZE: 7, BUCKET_ROUTER_EVENTS_ENABLED: false });
    const noOutbox = { enqueue: () => Promise.reject(new Error('router events are off in this test')) } as unknown as OutboxService;
    audit = new AuditService(dataSource, config, new CheckpointKey(generateKeyPairSync('ed25519').privateKey), new LedgerReader(dataSource), noOutbox);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('starts empty and verifies', async () => {
    await expect(audit.verify()).resolves.toEqual({ ok: true, size: 0, head_hash: GENESIS_HASH, verified_from: 0 });
  });

  it('appends contiguously from 1 under concurrency, linking each entry to the one before', async () => {
    const results = await Promise.all(Array.from({ length: 60 }, () => ledger.append([event()])));
    const seqs = results.map(([r]) => r.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const rows = await dataSource.query('SELECT seq, prev_hash, hash FROM bucket_entries ORDER BY seq');
    expect(rows[0].prev_hash).toBe(GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) expect(rows[i].prev_hash).toBe(rows[i - 1].hash);
    await expect(audit.verify()).resolves.toEqual({ ok: true, size: 60, head_hash: rows[59].hash, verified_from: 0 });
  });

  it('replays the same content, conflicts on different content or another requester', async () => {
    const first = event();
    const [appended] = await ledger.append([first]);
    const reordered = { ...first, event_data: Object.fromEntries(Object.entries(first.event_data).reverse()) };
    await expect(ledger.append([reordered])).resolves.toEqual([{ ...appended, status: 'replayed' }]);
    await expect(ledger.append([{ ...first, event_data: { ...first.event_data, n: -1 } }])).resolves.toEqual([
      { ...appended, status: 'conflict' },
    ]);
    await expect(ledger.append([{ ...first, requester_id: 'prana' }])).resolves.toEqual([{ ...appended, status: 'conflict' }]);
  });

  it('refuses UPDATE, DELETE and TRUNCATE through the application connection, even as table owner', async () => {
    for (const sql of [
      `UPDATE bucket_entries SET event_type = 'x' WHERE seq = 1`,
      `UPDATE bucket_entries SET event_type = 'x' WHERE false`,
      'DELETE FROM bucket_entries WHERE seq = 1',
      'TRUNCATE bucket_entries',
    ]) {
      await expect(dataSource.query(sql)).rejects.toThrow(/append-only/);
    }
    const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM bucket_entries');
    expect(n).toBe(61);
  });

  it('refuses an insert that does not extend the head', async () => {
    await expect(
      dataSource.query(
        `INSERT INTO bucket_entries (seq, event_id, requester_id, channel, event_type, event_data, content_hash, prev_hash, hash, created_at)
         VALUES (1000, gen_random_uuid(), 'x', 'core', 't', '{}', $1, $1, $1, now())`,
        [GENESIS_HASH],
      ),
    ).rejects.toThrow(/must follow the head/);
  });

  it('a request whose row the database refuses fails alone: the requests that shared its commit are appended', async () => {
    const held = await holdTable(dataSource, 'bucket_entries');
    const first = ledger.append([event()]);
    await held.waiting('INSERT INTO bucket_entries');
    // An agent_id past the index's row limit, incompressible (the HTTP routes refuse it with a 422 before it gets here).
    const bad = event({ event_data: { event_type: 'test_event', agent_id: randomBytes(3000).toString('hex') } });
    const rest = [ledger.append([event(), event()]), ledger.append([bad]), ledger.append([event()])];
    await poll('three requests queued for the next commit', async () => ledger.queued === 3 || undefined);
    await held.release();
    const outcomes = await Promise.allSettled([first, ...rest]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[2] as PromiseRejectedResult).reason.message).toMatch(/index row size/);
    const appended = outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
    expect(appended.map((r) => r.status)).toEqual(['appended', 'appended', 'appended', 'appended']);
    expect((await dataSource.query('SELECT count(*)::int AS n FROM bucket_entries WHERE event_id = $1', [bad.event_id]))[0].n).toBe(0);
    await expect(audit.verify()).resolves.toMatchObject({ ok: true });
  });

  it('appends a batch in one transaction, deduplicating within it', async () => {
    const [{ n: before }] = await dataSource.query('SELECT count(*)::int AS n FROM bucket_entries');
    const a = event();
    const b = event();
    const results = await ledger.append([a, b, a, { ...b, event_data: { other: true } }]);
    expect(results.map((r) => r.status)).toEqual(['appended', 'appended', 'replayed', 'conflict']);
    expect(results[1].seq).toBe(results[0].seq + 1);
    expect(results[2].seq).toBe(results[0].seq);
    const [{ n: after }] = await dataSource.query('SELECT count(*)::int AS n FROM bucket_entries');
    expect(after - before).toBe(2);
    await expect(audit.verify()).resolves.toMatchObject({ ok: true, size: after });
  });
});
