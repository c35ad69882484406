// The upgrade to per-product filter state on a database written by the release before it: the shared state rows
// become the product-less state (events without a product go on from them), a product starts from a state of its own,
// and a debounced start waiting at the upgrade is replaced by the next event of its own product, not another's.
import { RequesterId } from '@pancha/contracts';
import { buildDataSourceOptions, validateEnv } from '@pancha/service-kit';
import { bootServiceWithDatabase, createTestDatabase, httpJson, type ServiceWithDatabase, StandInServer, type TestDatabase } from '@pancha/testing';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { CoreConfig } from '../config/env.validation';
import { CORE_MIGRATIONS } from '../database';
import { coreSpecEnv } from '../testing/core-test-app';
import { EventFilterStateProduct1765850000000 } from './1765850000000-event-filter-state-product';
import { catalogExecutor } from '../testing/catalog-executor';

jest.setTimeout(180_000);

const SHARED = parseManifest(`
name: shared
version: 1.0.0
security: { actions: [task] }
triggers:
  - name: rl
    event: t.rld
    key: event.data.k
    rate_limit: { max: 2, per: 1h }
  - name: db
    event: t.db
    key: event.data.k
    debounce: { quiet: 1h }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest as WorkflowManifest;

const executor = catalogExecutor([SHARED]);
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('migration EventFilterStateProduct1765850000000 (real PostgreSQL)', () => {
  let db: TestDatabase;
  let core: ServiceWithDatabase;
  const now = Date.now();
  const dueAt = new Date(now + 3_600_000);

  beforeAll(async () => {
    await Promise.all([executor.start(), bucket.start()]);
    db = await createTestDatabase('core_filter_state_product');
    const old = new DataSource({
      // The release before: every migration but this one.
      ...buildDataSourceOptions({ url: db.url, entities: [], migrations: CORE_MIGRATIONS.filter((m) => m !== EventFilterStateProduct1765850000000) }),
      migrationsRun: false,
    });
    await old.initialize();
    try {
      await old.runMigrations();
      // Key X of trigger rl: two starts this hour, of events of p2 (the state then was shared by every product).
      await old.query(`INSERT INTO event_filter_state (workflow, "trigger", key, state) VALUES ('shared', 'rl', 'X', $1)`, [JSON.stringify({ seq: 2, runs: [now - 2000, now - 1000] })]);
      // Key Z of trigger db: a p1 event's debounced start waiting, named as the release before named it.
      await old.query(`INSERT INTO event_filter_state (workflow, "trigger", key, state) VALUES ('shared', 'db', 'Z', $1)`, [JSON.stringify({ seq: 1, pending: dueAt.getTime() })]);
      await old.query(
        `INSERT INTO events (event_id, type, time, trace_id, publisher, data, decisions)
         VALUES ('old-db-p1', 't.db', now(), $1, 'operator', '{"k": "Z", "product": "p1"}', $2)`,
        ['a'.repeat(32), JSON.stringify([{ workflow: 'shared', version: '1.0.0', trigger: 'db', key: 'Z', seq: 1, outcome: 'deferred', reason: 'debounced', due_at: dueAt.toISOString() }])],
      );
      await old.query(
        `INSERT INTO event_deferred_starts (id, event_id, workflow, version, "trigger", key, reason, due_at, inputs, user_id, product, trace_id, publisher, debounce_slot)
         VALUES (gen_random_uuid(), 'old-db-p1', 'shared', '1.0.0', 'db', 'Z', 'debounced', $1, '{}', 'event:t.db', 'p1', $2, 'operator', $3)`,
        [dueAt, 'a'.repeat(32), JSON.stringify(['shared', 'db', 'Z'])],
      );
    } finally {
      await old.destroy();
    }
    core = await bootServiceWithDatabase({
      database: db,
      module: ({ PANCHA_KEYS_DIR }) =>
        AppModule.forRoot(validateEnv(CoreConfig, coreSpecEnv({ databaseUrl: db.url, keysDir: String(PANCHA_KEYS_DIR), executorUrl: executor.url, bucketUrl: bucket.url }))),
    });
  });

  afterAll(async () => {
    await core?.close();
    await db?.drop();
    await Promise.all([executor.close(), bucket.close()]);
  });

  const publish = async (body: unknown, products?: string[]) => {
    const res = await httpJson('POST', `${core.url}/events`, body, await core.keys.mint(RequesterId.Operator, 'core', products ? { products } : undefined));
    expect(res.status).toBe(202);
    return res.body as { runs: unknown[]; skipped: { reason: string }[]; deferred: unknown[] };
  };
  const decisionOf = async (id: string) =>
    ((await core.dataSource.query(`SELECT decisions FROM events WHERE event_id = $1`, [id])) as { decisions: { outcome: string; reason?: string; detail?: string }[] }[])[0].decisions[0];

  it('the shared rows become the product-less state; a product starts from its own', async () => {
    expect(await core.dataSource.query(`SELECT "trigger", product, key FROM event_filter_state ORDER BY "trigger"`)).toEqual([
      { trigger: 'db', product: '', key: 'Z' },
      { trigger: 'rl', product: '', key: 'X' },
    ]);
    expect((await publish({ id: 'up-none', type: 't.rld', data: { k: 'X' } })).skipped).toEqual([expect.objectContaining({ reason: 'rate_limited' })]);
    expect((await publish({ id: 'up-p1', type: 't.rld', data: { k: 'X', product: 'p1' } }, ['p1'])).runs).toHaveLength(1);
  });

  it('a debounced start waiting at the upgrade is replaced by the next event of its product, not by one without a product', async () => {
    expect((await publish({ id: 'up-db-none', type: 't.db', data: { k: 'Z' } })).deferred).toHaveLength(1);
    expect(await decisionOf('old-db-p1')).toMatchObject({ outcome: 'deferred' });
    expect((await publish({ id: 'up-db-p1', type: 't.db', data: { k: 'Z', product: 'p1' } }, ['p1'])).deferred).toHaveLength(1);
    expect(await decisionOf('old-db-p1')).toMatchObject({ outcome: 'skipped', reason: 'debounced', detail: 'superseded by event up-db-p1 before the key was quiet' });
    expect(await core.dataSource.query(`SELECT event_id, product FROM event_deferred_starts ORDER BY event_id`)).toEqual([
      { event_id: 'up-db-none', product: null },
      { event_id: 'up-db-p1', product: 'p1' },
    ]);
  });

  it('down() keeps the product-less state and every pending start, named as the release before names it', async () => {
    const ds = new DataSource({ ...buildDataSourceOptions({ url: db.url, entities: [], migrations: CORE_MIGRATIONS }), migrationsRun: false });
    await ds.initialize();
    try {
      await ds.undoLastMigration();
      expect(await ds.query(`SELECT "trigger", key FROM event_filter_state ORDER BY "trigger", key`)).toEqual([
        { trigger: 'db', key: 'Z' },
        { trigger: 'rl', key: 'X' },
      ]);
      const slots = (await ds.query(`SELECT event_id, debounce_slot FROM event_deferred_starts ORDER BY event_id`)) as { event_id: string; debounce_slot: string | null }[];
      // One of the key's two pending starts keeps the key's name, the other none; both still fire.
      expect(slots.map((s) => s.event_id)).toEqual(['up-db-none', 'up-db-p1']);
      expect(slots.map((s) => s.debounce_slot).sort()).toEqual([JSON.stringify(['shared', 'db', 'Z']), null].sort());
      await ds.runMigrations();
    } finally {
      await ds.destroy();
    }
  });
});
