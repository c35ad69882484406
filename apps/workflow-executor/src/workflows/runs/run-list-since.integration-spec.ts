/**
 * GET /api/runs on a PostgreSQL whose time zone is not UTC (the database's default, as a server's postgresql.conf
 * sets it): a time without an offset is UTC, as validation reads it, not the session's time zone.
 */
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { AT_REST_WORKFLOW } from '../testing/at-rest.workflow';

jest.setTimeout(60_000);

describe('GET /api/runs on a database in Asia/Kolkata (UTC+05:30)', () => {
  let db: TestDatabase;
  let h: ExecutorHarness;
  let early: string;
  let late: string;

  beforeAll(async () => {
    db = await createTestDatabase('wf_tz', { timeZone: 'Asia/Kolkata' });
    h = await startExecutorHarness({ workflows: { 'at-rest.yaml': AT_REST_WORKFLOW }, env: { DATABASE_URL: db.url } });
    [early, late] = [await h.startRun('at-rest', '1.0.0', {}), await h.startRun('at-rest', '1.0.0', {})];
    await eventually(async () => {
      for (const runId of [early, late]) expect((await h.run(runId)).status).toBe('completed');
    });
    // Ended runs are never written again: their times stay where the test puts them.
    const place = `UPDATE workflow_runs SET created_at = $2, updated_at = $3 WHERE run_id = $1`;
    await h.dataSource.query(place, [early, '2026-03-01T09:00:00Z', '2026-03-01T09:00:00Z']);
    await h.dataSource.query(place, [late, '2026-03-01T11:00:00Z', '2026-03-01T11:00:00.0005Z']);
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  const listed = async (query: string): Promise<string[]> => {
    const res = await h.call('GET', `/api/runs?workflow=at-rest&${query}`);
    expect([query, res.status]).toEqual([query, 200]);
    return (res.body as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);
  };

  it("the executor's sessions read the database's time zone", async () => {
    expect(await h.dataSource.query(`SELECT current_setting('TimeZone') AS tz`)).toEqual([{ tz: 'Asia/Kolkata' }]);
  });

  it('since and until without an offset select by that time in UTC', async () => {
    expect(await listed('since=2026-03-01T10:00:00')).toEqual([late]);
    expect(await listed('until=2026-03-01T10:00:00')).toEqual([early]);
    expect(await listed('since=2026-03-01T08:00&until=2026-03-01T10:00')).toEqual([early]);
    // With an offset, that offset: 15:00+05:30 is 09:30 UTC.
    expect(await listed(`since=${encodeURIComponent('2026-03-01T15:00:00+05:30')}`)).toEqual([late]);
  });

  it('updated_since without an offset is UTC too, to the microsecond', async () => {
    expect(await listed('updated_since=2026-03-01T10:00:00')).toEqual([late]);
    expect(await listed('updated_since=2026-03-01T11:00:00.000499')).toEqual([late]);
    expect(await listed('updated_since=2026-03-01T11:00:00.0005')).toEqual([]);
  });

  it('a time at the last microsecond of year 9999 is an answer, never a 500: since, until, updated_since and cursors', async () => {
    // Validation accepts it (half up on the seventh digit it is 23:59:59.999999); read as a double it is year 10000.
    const last = encodeURIComponent('9999-12-31T23:59:59.9999994999999999999Z');
    const cursor = (text: string) => Buffer.from(text).toString('base64url');
    const queries = [
      `since=${last}`,
      `until=${last}`,
      `updated_since=${last}`,
      `cursor=${cursor(`9999-12-31T23:59:59.9999994999999999999Z|${late}`)}`,
      `updated_since=2026-01-01&cursor=${cursor(`feed|9999-12-31T23:59:59.9999994999999999999Z|${late}`)}`,
    ];
    const statuses = await Promise.all(queries.map(async (q) => [q, (await h.call('GET', `/api/runs?workflow=at-rest&${q}`)).status]));
    expect(statuses).toEqual(queries.map((q) => [q, 200]));
    expect(await listed(`since=${last}`)).toEqual([]);
    expect(await listed(`until=${last}`)).toEqual([late, early]);
    expect(await listed(`cursor=${cursor(`9999-12-31T23:59:59.9999994999999999999Z|${late}`)}`)).toEqual([late, early]);
  });

  it('pages by the cursor PostgreSQL wrote in its own time zone', async () => {
    const first = await h.call('GET', '/api/runs?workflow=at-rest&limit=1');
    const page = first.body as { runs: { run_id: string }[]; next_cursor: string };
    expect(page.runs.map((r) => r.run_id)).toEqual([late]);
    expect(Buffer.from(page.next_cursor, 'base64url').toString()).toContain('+05:30|');
    expect(await listed(`limit=1&cursor=${page.next_cursor}`)).toEqual([early]);
  });
});
