/**
 * Recovery after kill -9: the rows a dead relay was delivering come back within one lease (seconds, not the
 * two minutes of the old fixed lease), and each message's effect happens exactly once. A live relay renews its
 * leases, so a delivery slower than the lease is never taken over by another relay.
 * Time is read from the database, which sets and checks the leases: no stopwatch in the test, no sleep.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { createTestDatabase, deferred, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import type { OutboxRelay } from './outbox-relay.service';
import { OUTBOX_NUMERIC_FIELDS } from './outbox.options';
import { openOutboxDataSource, recordingHandler, relayOn } from './testing/outbox-test-kit';

const DEFAULT_LEASE_MS = OUTBOX_NUMERIC_FIELDS.leaseMs.fallback;

jest.setTimeout(60_000);

const REPO_ROOT = path.resolve(__dirname, '../../..');

/** The child relay, run from source (ts-node with SWC, the repo's path aliases). */
function spawnRelayProcess(url: string, options: Record<string, unknown>): { child: ChildProcess; lines: string[]; exited: Promise<void> } {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', path.join(__dirname, 'testing', 'relay-process.ts')],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        DATABASE_URL: url,
        RELAY_OPTIONS: JSON.stringify(options),
        TS_NODE_PROJECT: path.join(REPO_ROOT, 'tsconfig.base.json'),
        TS_NODE_TRANSPILE_ONLY: 'true',
        TS_NODE_SWC: 'true',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines: string[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, exited };
}

describe('outbox recovery after a crash', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  const relays: OutboxRelay[] = [];
  const extra: DataSource[] = [];
  let child: ChildProcess | undefined;

  const effects = async (): Promise<{ message_key: string; relay: string }[]> =>
    dataSource.query(`SELECT message_key, relay FROM effects ORDER BY message_key, relay`);
  /** Each held row's lease: when it lapses, and how far that is from the database's now (ms, may be negative). */
  const leases = async (keys: string[]): Promise<{ message_key: string; locked_until: Date; remaining_ms: number }[]> =>
    dataSource.query(
      `SELECT message_key, locked_until, (extract(epoch FROM locked_until - now()) * 1000)::float8 AS remaining_ms
       FROM outbox WHERE message_key = ANY($1) ORDER BY message_key`,
      [keys],
    );
  const statuses = async (): Promise<Record<string, number>> => {
    const rows: { status: string; n: number }[] = await dataSource.query(`SELECT status, count(*)::int AS n FROM outbox GROUP BY status`);
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  };

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox_crash');
    dataSource = await openOutboxDataSource(db.url);
    await dataSource.runMigrations();
    await dataSource.query(`CREATE TABLE effects (message_key text NOT NULL, relay text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  });

  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await dataSource.query(`TRUNCATE outbox, outbox_dead_letter, effects`);
  });

  afterAll(async () => {
    for (const ds of extra) await ds.destroy();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('a relay killed mid-delivery: another relay delivers its rows within seconds, each effect exactly once', async () => {
    // The child runs with the default lease (OUTBOX_LEASE_MS unset).
    const spawned = spawnRelayProcess(db.url, { pollIntervalMs: 20, concurrency: 4, batchSize: 10 });
    child = spawned.child;
    await eventually(() => expect(spawned.lines).toContain('ready'), 30_000);

    const { outbox } = relayOn(dataSource, [], { enabled: false });
    const hanging = ['k03', 'k07', 'k11'];
    await dataSource.transaction(async (manager) => {
      for (let i = 0; i < 20; i++) {
        const key = `k${String(i).padStart(2, '0')}`;
        await outbox.enqueue(manager, { topic: 't', messageKey: key, payload: { hang: hanging.includes(key) } });
      }
    });
    // The child delivered everything else and is stuck inside the three deliveries.
    await eventually(async () => {
      expect(spawned.lines.filter((l) => l.startsWith('started ')).sort()).toEqual(hanging.map((k) => `started ${k}`));
      expect(await statuses()).toEqual({ delivered: 17, pending: 3 });
    }, 30_000);

    // The dead relay's rows are held by a lease of the default length (renewed while it lived), not minutes.
    const held = await leases(hanging);
    for (const lease of held) expect(lease.remaining_ms).toBeLessThanOrEqual(DEFAULT_LEASE_MS);

    spawned.child.kill('SIGKILL');
    await spawned.exited;
    // Nothing renews them now: these are the moments the rows come free.
    const lapse = new Map((await leases(hanging)).map((l) => [l.message_key, l.locked_until.getTime()]));

    const second = await openOutboxDataSource(db.url);
    extra.push(second);
    const taker = recordingHandler('t', async (message) => {
      await second.query(`INSERT INTO effects (message_key, relay) VALUES ($1, 'second')`, [message.messageKey]);
    });
    // Default poll interval and lease, as in a service.
    relays.push(relayOn(second, [taker.handler], { pollIntervalMs: 250 }).relay);

    await eventually(async () => expect(await statuses()).toEqual({ delivered: 20 }), {
      timeoutMs: 30_000,
      what: 'the dead relay\'s rows to be delivered by the other relay',
    });
    // Taken over once the dead relay's lease lapsed, not before (the old fixed lease kept them two minutes).
    const taken: { message_key: string; at: Date }[] = await dataSource.query(
      `SELECT message_key, at FROM effects WHERE relay = 'second' ORDER BY message_key`,
    );
    expect(taken.map((t) => t.message_key)).toEqual(hanging);
    for (const t of taken) expect(t.at.getTime()).toBeGreaterThanOrEqual(lapse.get(t.message_key) as number);

    const byKey = new Map<string, string[]>();
    for (const e of await effects()) byKey.set(e.message_key, [...(byKey.get(e.message_key) ?? []), e.relay]);
    expect(byKey.size).toBe(20);
    for (const [key, who] of byKey) expect(who).toEqual([hanging.includes(key) ? 'second' : 'child']);
    expect(taker.calls.map((c) => c.messageKey).sort()).toEqual(hanging);
    // The killed attempt was never recorded: the taker's is the first counted one.
    const attempts: { message_key: string; attempts: number }[] = await dataSource.query(
      `SELECT message_key, attempts FROM outbox WHERE message_key = ANY($1) ORDER BY message_key`,
      [hanging],
    );
    expect(attempts).toEqual(hanging.map((k) => ({ message_key: k, attempts: 1 })));
  });

  it('a live relay keeps renewing its lease: a delivery slower than the lease is not taken by another relay', async () => {
    const LEASE_MS = 900;
    const delivering = deferred();
    const release = deferred();
    const slow = recordingHandler('t', async (message) => {
      delivering.resolve();
      await release.promise;
      await dataSource.query(`INSERT INTO effects (message_key, relay) VALUES ($1, 'slow')`, [message.messageKey]);
    });
    const { relay, outbox } = relayOn(dataSource, [slow.handler], { leaseMs: LEASE_MS });
    relays.push(relay);
    await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'long', payload: {} }));
    await delivering.promise;
    const [first] = await leases(['long']);

    // A second relay polling all the while, each of its claim statements recorded.
    const statements: string[] = [];
    const second = await openOutboxDataSource(db.url, statements);
    extra.push(second);
    const other = recordingHandler('t');
    relays.push(relayOn(second, [other.handler], { leaseMs: LEASE_MS, pollIntervalMs: 10 }).relay);
    const claims = () => statements.filter((q) => q.includes('outbox_claim(')).length;

    // Hold the delivery until, by the database's clock, the first lease lapsed twice over ...
    await eventually(
      async () => {
        const [{ lapsed }] = await dataSource.query(`SELECT now() > $1::timestamptz + ($2::int * interval '1 millisecond') AS lapsed`, [
          first.locked_until,
          2 * LEASE_MS,
        ]);
        expect(lapsed).toBe(true);
      },
      { what: 'two lease lengths to pass on the database clock' },
    );
    // ... and the other relay has looked for work since (a claim begun after that and then another one).
    const claimsThen = claims();
    await eventually(() => expect(claims()).toBeGreaterThanOrEqual(claimsThen + 2), { what: 'two more claim rounds of the other relay' });

    // The row is still held by the first relay, with a renewed lease; nobody else touched it.
    expect(other.calls).toHaveLength(0);
    const [renewed] = await leases(['long']);
    expect(renewed.locked_until.getTime()).toBeGreaterThan(first.locked_until.getTime() + LEASE_MS);

    release.resolve();
    await eventually(async () => expect(await statuses()).toEqual({ delivered: 1 }));
    expect(other.calls).toHaveLength(0);
    expect(await effects()).toEqual([{ message_key: 'long', relay: 'slow' }]);
  });
});
