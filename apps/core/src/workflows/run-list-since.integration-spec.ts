/**
 * GET /runs on a PostgreSQL whose time zone is not UTC (the database's default, as a server's postgresql.conf sets
 * it): Core's own runs are selected by since/until read as UTC when they carry no offset, as validation reads them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { RequesterId } from '@pancha/contracts';
import { createTestDatabase, httpJson, type ServiceWithDatabase, StandInServer, type TestDatabase } from '@pancha/testing';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(60_000);

// The executor has no runs: the list is Core's own.
const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') return { status: 200, body: { revision: 'r', workflows: [] } };
  // The change feed is the executor's alone: answered with the cursor it was asked with.
  if (req.method === 'GET' && req.path === '/api/runs' && req.query.get('updated_since')) {
    return { status: 200, body: { runs: [], next_cursor: req.query.get('cursor'), next_updated_since: null } };
  }
  if (req.method === 'GET' && req.path === '/api/runs') return { status: 200, body: { runs: [], next_cursor: null } };
  return { status: 404, body: { code: 'not_found' } };
});
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('GET /runs on a database in Asia/Kolkata (UTC+05:30)', () => {
  let db: TestDatabase;
  let core: ServiceWithDatabase;
  const user = `tz-${randomUUID().slice(0, 8)}`;
  const [early, late] = [randomUUID(), randomUUID()];

  beforeAll(async () => {
    db = await createTestDatabase('core_tz', { timeZone: 'Asia/Kolkata' });
    core = await bootCoreSpec({ name: 'core_tz', executor, bucket, env: { DATABASE_URL: db.url } });
    // Two starts Core refused before they reached the executor (the rows its refusal leaves), an hour either side of 10:00 UTC.
    for (const [runId, createdAt] of [
      [early, '2026-03-01T09:00:00Z'],
      [late, '2026-03-01T11:00:00Z'],
    ]) {
      await core.dataSource.query(
        `INSERT INTO workflow_run_requests (run_id, workflow, version, inputs, user_id, trace_id, actor, source, delivery, reason, created_at)
         VALUES ($1, 'onboard', '1.2.0', '{}', $2, $3, 'prana', 'api', 'refused', 'workflow_disabled', $4)`,
        [runId, user, randomBytes(16).toString('hex'), createdAt],
      );
    }
  });

  afterAll(async () => {
    await core?.close();
    await db?.drop();
  });

  const listed = async (query: string): Promise<string[]> => {
    const res = await httpJson('GET', `${core.url}/runs?user_id=${user}&${query}`, undefined, await core.keys.mint(RequesterId.Prana, 'core'));
    expect([query, res.status]).toEqual([query, 200]);
    return (res.body as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);
  };

  it("Core's sessions read the database's time zone", async () => {
    expect(await core.dataSource.query(`SELECT current_setting('TimeZone') AS tz`)).toEqual([{ tz: 'Asia/Kolkata' }]);
  });

  it('since and until without an offset select by that time in UTC', async () => {
    expect(await listed('since=2026-03-01T10:00:00')).toEqual([late]);
    expect(await listed('until=2026-03-01T10:00:00')).toEqual([early]);
    expect(await listed(`since=${encodeURIComponent('2026-03-01T15:00:00+05:30')}`)).toEqual([late]);
  });

  it('passes the change feed to the executor as asked, its cursor too, and answers with the executor\'s', async () => {
    const cursor = Buffer.from('feed|2026-03-01T10:00:00.000001Z|3f0c8f7e-9a51-4d4e-8e1a-2b7c1d9e0a11').toString('base64url');
    const res = await httpJson('GET', `${core.url}/runs?updated_since=2026-03-01T10:00:00Z&limit=2&cursor=${cursor}`, undefined, await core.keys.mint(RequesterId.Prana, 'core'));
    expect(res).toMatchObject({ status: 200, body: { runs: [], next_cursor: cursor, next_updated_since: null } });
    const asked = executor.requests.filter((r) => r.path === '/api/runs' && r.query.get('updated_since')).at(-1);
    expect([asked?.query.get('updated_since'), asked?.query.get('cursor'), asked?.query.get('limit')]).toEqual(['2026-03-01T10:00:00Z', cursor, '2']);
  });

  it('pages by the position PostgreSQL wrote in its own time zone', async () => {
    const first = await httpJson('GET', `${core.url}/runs?user_id=${user}&limit=1`, undefined, await core.keys.mint(RequesterId.Prana, 'core'));
    const page = first.body as { runs: { run_id: string }[]; next_cursor: string };
    expect(page.runs.map((r) => r.run_id)).toEqual([late]);
    expect(await listed(`limit=1&cursor=${page.next_cursor}`)).toEqual([early]);
  });
});
