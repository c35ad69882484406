/**
 * The chain's integrity as `npm start` runs it: every service migrates as its database's owner role and serves as
 * a runtime role that owns nothing and is not a superuser; Core witnesses Bucket's signed checkpoints in its own
 * database, so what the chain alone cannot show (the newest entries removed, everything removed, a rewrite with
 * re-computed hashes) shows in Core's GET /audit/verify.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ChainFault, RequesterId, ServiceName } from '@pancha/contracts';
import { loadKeyStore, TokenIssuer } from '@pancha/governance';
import { freePort, httpJson, queryRows, testServerUrl } from '@pancha/testing';
import { startStack, RunningStack } from '@pancha/stack';
import { Client } from 'pg';

const ROOT = path.resolve(__dirname, '../../..');
const SERVICES: ServiceName[] = ['bucket', 'core'];

// Tests restart Bucket (migrations, now including its outbox): far more than Jest's 5 s default on a busy machine.
jest.setTimeout(180_000);

describe('audit integrity under npm start: database roles and the checkpoint witness', () => {
  let stack: RunningStack;
  let prefix: string;
  const token = (who: RequesterId, audience: 'bucket' | 'core') =>
    new TokenIssuer(loadKeyStore(who, { PANCHA_KEYS_DIR: stack.keysDir })).tokenFor(audience);
  /** The server's administrator on Bucket's database: what an attacker holding the superuser could do. */
  const asAdmin = async (sql: string[]) => {
    const u = new URL(testServerUrl());
    u.pathname = `/${prefix}bucket`;
    const c = new Client({ connectionString: u.toString() });
    await c.connect();
    try {
      await c.query('BEGIN');
      await c.query('ALTER TABLE bucket_entries DISABLE TRIGGER ALL');
      for (const statement of sql) await c.query(statement);
      await c.query('ALTER TABLE bucket_entries ENABLE TRIGGER ALL');
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
  };
  const coreVerify = async (full = false) =>
    httpJson('GET', `${stack.urls.core}/audit/verify${full ? '?full=true' : ''}`, undefined, await token(RequesterId.Prana, 'core'));
  const write = async () =>
    httpJson(
      'POST',
      `${stack.urls.bucket}/core/write-event`,
      { requester_id: 'bhiv_core', event_data: { event_id: randomUUID(), event_type: 'audit_probe' } },
      await token(RequesterId.Core, 'bucket'),
    );

  beforeAll(async () => {
    prefix = `e2e_${randomBytes(3).toString('hex')}_`;
    const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()] as const)));
    stack = await startStack({
      rootDir: ROOT,
      dataDir: mkdtempSync(path.join(tmpdir(), 'pancha-e2e-data-')),
      databaseUrl: testServerUrl(),
      databasePrefix: prefix,
      ports,
      services: SERVICES,
      logDir: mkdtempSync(path.join(tmpdir(), 'pancha-e2e-logs-')),
      dropDatabasesOnStop: true,
      env: { LOG_LEVEL: 'warn', NATS_URL: '' },
      // Witness rounds only when verify is called: the test decides when a checkpoint is taken. Bucket does not
      // publish its findings to Core's router here: Core would record each routed audit.verify_failed in Bucket,
      // appending to the chain this test cuts back and counts (pillar-events.e2e-spec covers that path).
      serviceEnv: {
        core: { ENABLE_WORKFLOW_EXECUTION: 'false', AUDIT_WITNESS_INTERVAL_MS: '0' },
        bucket: { BUCKET_ROUTER_EVENTS_ENABLED: 'false' },
      },
    });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('serves every service as a runtime role that is not a superuser and owns nothing; migrations ran as the owner', async () => {
    expect(stack.migrationUrls).toBeDefined();
    for (const service of SERVICES) {
      const runtime = decodeURIComponent(new URL(stack.databaseUrls[service]).username);
      const owner = decodeURIComponent(new URL(stack.migrationUrls?.[service] as string).username);
      expect({ service, runtime, owner }).toEqual({ service, runtime: expect.stringMatching(/_app$/), owner: expect.stringMatching(/_owner$/) });
      const [role] = await queryRows<{ rolsuper: boolean; owned: number }>(
        stack.databaseUrls[service],
        `SELECT r.rolsuper, (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) AS owned FROM pg_roles r WHERE r.rolname = current_user`,
      );
      expect({ service, ...role }).toEqual({ service, rolsuper: false, owned: 0 });
    }
  });

  it('lets Bucket\'s runtime role neither change, delete, lift the triggers of, nor drop the chain', async () => {
    expect((await write()).status).toBe(201);
    const c = new Client({ connectionString: stack.databaseUrls.bucket });
    await c.connect();
    try {
      for (const sql of [
        `UPDATE bucket_entries SET event_type = 'x'`,
        'DELETE FROM bucket_entries',
        'TRUNCATE bucket_entries',
        'SET session_replication_role = replica',
        'ALTER TABLE bucket_entries DISABLE TRIGGER ALL',
        'DROP TABLE bucket_entries',
      ]) {
        await expect(c.query(sql)).rejects.toThrow(/permission denied|must be owner|append-only/);
      }
    } finally {
      await c.end();
    }
  });

  it('witnesses Bucket\'s checkpoint in Core\'s database and finds a rewrite with re-computed hashes', async () => {
    for (let i = 0; i < 5; i++) expect((await write()).status).toBe(201);
    const first = await coreVerify();
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ ok: true, size: 6, witnessed: { size: 6, head_hash: first.body.head_hash } });
    const [kept] = await queryRows<{ size: string; head_hash: string }>(stack.migrationUrls?.core as string, 'SELECT size, head_hash FROM audit_checkpoints ORDER BY size DESC LIMIT 1');
    expect(kept).toEqual({ size: '6', head_hash: first.body.head_hash });

    // A rewrite re-computes the hashes from the changed entry on; whatever it does, the entry at the witnessed size
    // no longer has the witnessed hash (here: entry 6's hash replaced outright).
    const rows = await queryRows<{ prev_hash: string }>(stack.databaseUrls.bucket, 'SELECT prev_hash FROM bucket_entries WHERE seq = 6');
    await asAdmin([`UPDATE bucket_entries SET hash = md5('forged') || md5('hash'), prev_hash = '${rows[0].prev_hash}' WHERE seq = 6`]);
    const rewritten = await coreVerify();
    expect(rewritten.body).toMatchObject({ ok: false, first_bad_seq: 6, reason: ChainFault.CheckpointMismatch, witnessed: { size: 6 } });
  });

  it('finds the newest entries removed, and everything removed, against the witnessed checkpoint', async () => {
    await asAdmin(['DELETE FROM bucket_entries WHERE seq > 3']);
    // Bucket restarted: its own memory of what it verified is gone; only the witness remembers.
    await stack.stopService('bucket');
    await stack.startService('bucket');
    const bucketOwn = await httpJson('GET', `${stack.urls.bucket}/audit/verify`, undefined, await token(RequesterId.Core, 'bucket'));
    expect(bucketOwn.body).toMatchObject({ ok: true, size: 3 });
    expect((await coreVerify()).body).toMatchObject({ ok: false, size: 3, first_bad_seq: 4, reason: ChainFault.Truncated, witnessed: { size: 6 } });

    await asAdmin(['DELETE FROM bucket_entries']);
    expect((await coreVerify(true)).body).toMatchObject({ ok: false, size: 0, first_bad_seq: 1, reason: ChainFault.Truncated });
  });

  it('answers 503 dependency_unavailable, not a 500, while Bucket is down', async () => {
    await stack.stopService('bucket');
    try {
      const res = await coreVerify();
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('dependency_unavailable');
    } finally {
      await stack.startService('bucket');
    }
  });

  it('gives the audit of the whole chain only to a reader of every product (anonymous: 403)', async () => {
    const anonymous = await httpJson('GET', `${stack.urls.core}/audit/verify`);
    expect(anonymous.status).toBe(403);
  });
});
