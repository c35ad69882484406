/**
 * Bucket verifies its own chain on a timer (BUCKET_VERIFY_INTERVAL_MS) and publishes what it finds, one replica at a
 * time (a PostgreSQL advisory lock). The schedule is driven by hand through an injected timer, then once with the
 * real timer and a short interval; every wait is on a condition.
 */
import type { INestApplication } from '@nestjs/common';
import { ChainFault, CORE_EVENTS_BATCH_ROUTE } from '@pancha/contracts';
import { createTestDatabase, createTestKeys, eventually, StandInServer, type TestDatabase, type TestKeys } from '@pancha/testing';
import { DataSource, type QueryRunner } from 'typeorm';
import { bootBucket, tamperChain as tamper, writeCoreEvents } from '../testing/bucket-test-app';
import { AuditService } from './audit.service';
import { VERIFY_LOCK_KEY, VerifySchedule, VerifyTimer } from './verify-schedule.service';

jest.setTimeout(240_000);

/** The schedule's clock, fired by the test: what is armed, for how long, and a way to let it go off. */
class ManualTimer extends VerifyTimer {
  readonly armed: Array<{ ms: number; fire: () => void }> = [];

  override start(ms: number, fire: () => void): () => void {
    const entry = { ms, fire };
    this.armed.push(entry);
    return () => this.armed.splice(this.armed.indexOf(entry) >>> 0, 1);
  }

  fire(): void {
    const next = this.armed.shift();
    if (!next) throw new Error('nothing is armed');
    next.fire();
  }
}

interface OutboxRow {
  message_key: string;
  status: string;
}

describe('scheduled chain verification (real PostgreSQL, outbox to a stand-in Core)', () => {
  let keys: TestKeys;
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');

  /** Bucket on `db`, which the test drops: several boots share one database here. */
  const boot = async (db: TestDatabase, env: Record<string, string>, timer?: VerifyTimer) =>
    (await bootBucket({ database: db, keys, coreUrl: core.url, env, override: timer ? (builder) => builder.overrideProvider(VerifyTimer).useValue(timer) : undefined })).app;
  const write = (app: INestApplication, n: number) => writeCoreEvents(app, keys, n);
  const outboxRows = (app: INestApplication): Promise<OutboxRow[]> =>
    app.get(DataSource).query(`SELECT message_key, status FROM outbox WHERE topic = 'core.bucket-event' ORDER BY seq`);

  beforeAll(async () => {
    keys = createTestKeys('bucket-verify-schedule');
    await core.start();
  });

  afterAll(async () => {
    await core.close();
    keys?.remove();
  });

  describe('driven by an injected timer', () => {
    let db: TestDatabase;
    let app: INestApplication;
    const timer = new ManualTimer();
    let verify: jest.SpyInstance<ReturnType<AuditService['verify']>, Parameters<AuditService['verify']>>;
    /** Fires the armed round and waits until it has finished (the schedule re-arms only then). */
    const round = async () => {
      const before = verify.mock.calls.length;
      timer.fire();
      await eventually(() => expect(timer.armed).toHaveLength(1), { what: 'the round to finish and the next one to be armed' });
      return verify.mock.results.slice(before);
    };

    beforeAll(async () => {
      db = await createTestDatabase('bucket_verify_schedule');
      app = await boot(db, { BUCKET_VERIFY_INTERVAL_MS: '60000' }, timer);
      verify = jest.spyOn(app.get(AuditService), 'verify');
      await write(app, 6);
    });

    afterAll(async () => {
      await app?.close();
      await db?.drop();
    });

    it('arms one round of BUCKET_VERIFY_INTERVAL_MS at start; each round is incremental from the last sound point', async () => {
      expect(timer.armed.map((t) => t.ms)).toEqual([60_000]);
      const [first] = await round();
      await expect(first.value).resolves.toMatchObject({ ok: true, size: 6, verified_from: 0 });
      expect(verify).toHaveBeenLastCalledWith();

      await write(app, 3);
      const [second] = await round();
      await expect(second.value).resolves.toMatchObject({ ok: true, size: 9, verified_from: 6 });
      expect(await outboxRows(app)).toEqual([]);
    });

    it('a fault found by a round is published to Core, with nobody calling GET /audit/verify', async () => {
      await write(app, 2);
      await tamper(app, `UPDATE bucket_entries SET event_data = event_data || '{"tampered": true}' WHERE seq = 10`);
      const [found] = await round();
      await expect(found.value).resolves.toMatchObject({ ok: false, first_bad_seq: 10, reason: ChainFault.ContentHashMismatch });
      expect((await outboxRows(app)).map((r) => r.message_key)).toEqual(['bucket:verify_failed:10:content_hash_mismatch']);
      await eventually(() => expect(core.requests.filter((r) => r.path === '/events').map((r) => (r.body as { id: string }).id)).toEqual(['bucket:verify_failed:10:content_hash_mismatch']), {
        what: 'the finding to reach Core',
      });
    });

    it('a round skips while another replica holds the lock, and runs again once it is free', async () => {
      const other: QueryRunner = app.get(DataSource).createQueryRunner();
      await other.connect();
      try {
        expect(await other.query('SELECT pg_try_advisory_lock($1) AS locked', [VERIFY_LOCK_KEY])).toEqual([{ locked: true }]);
        expect(await round()).toEqual([]);
        await expect(app.get(VerifySchedule).runOnce()).resolves.toEqual({ ran: false, reason: 'locked_elsewhere' });
        expect(verify).toHaveBeenCalledTimes(3);
      } finally {
        await other.query('SELECT pg_advisory_unlock($1)', [VERIFY_LOCK_KEY]);
        await other.release();
      }
      expect(await round()).toHaveLength(1);
      expect(verify).toHaveBeenCalledTimes(4);
      // The lock is free again after the round (no session keeps it).
      const [{ held }] = await app.get(DataSource).query(`SELECT count(*)::int AS held FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [VERIFY_LOCK_KEY]);
      expect(held).toBe(0);
    });

    it('two replicas never verify at once: concurrent rounds on one database, only one runs', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      verify.mockImplementationOnce(async () => {
        await gate;
        return { ok: true, size: 0, head_hash: '', verified_from: 0 };
      });
      const schedule = app.get(VerifySchedule);
      const first = schedule.runOnce();
      await eventually(() => expect(verify).toHaveBeenCalledTimes(5), { what: 'the first round to hold the lock' });
      // Another replica's round: same database, another session.
      await expect(schedule.runOnce()).resolves.toEqual({ ran: false, reason: 'locked_elsewhere' });
      release();
      await expect(first).resolves.toMatchObject({ ran: true });
      expect(verify).toHaveBeenCalledTimes(5);
    });
  });

  it('with the real timer: BUCKET_VERIFY_INTERVAL_MS=0 arms nothing, a short interval finds and publishes a fault by itself', async () => {
    const db = await createTestDatabase('bucket_verify_schedule_real');
    try {
      const off = await boot(db, { BUCKET_VERIFY_INTERVAL_MS: '0' });
      const offVerify = jest.spyOn(off.get(AuditService), 'verify');
      await write(off, 4);
      await tamper(off, `UPDATE bucket_entries SET requester_id = 'karma' WHERE seq = 2`);
      await off.close();
      expect(offVerify).not.toHaveBeenCalled();

      const on = await boot(db, { BUCKET_VERIFY_INTERVAL_MS: '50' });
      try {
        await eventually(async () => expect((await outboxRows(on)).map((r) => r.message_key)).toEqual(['bucket:verify_failed:2:hash_mismatch']), {
          what: 'a scheduled round to enqueue the finding',
        });
      } finally {
        await on.close();
      }
    } finally {
      await db.drop();
    }
  });
});
