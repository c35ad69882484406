/**
 * The change feed and a late commit: a run's updated_at is its writer's transaction start, so a transaction that
 * started first may commit after one that started later. A follower that read the later change must still get the
 * earlier one: the feed holds back changes from the oldest open transaction's start on.
 */
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import { Client } from 'pg';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { AT_REST_WORKFLOW } from '../testing/at-rest.workflow';
import { feedHorizon } from './feed-horizon';

jest.setTimeout(60_000);

interface FeedPage {
  runs: { run_id: string; updated_at: string }[];
  next_cursor: string | null;
}

describe('GET /api/runs?updated_since= and a transaction that commits late', () => {
  let db: TestDatabase;
  let h: ExecutorHarness;
  let runIds: string[];
  let early: Client;

  beforeAll(async () => {
    db = await createTestDatabase('wf_feed_late');
    h = await startExecutorHarness({ workflows: { 'at-rest.yaml': AT_REST_WORKFLOW }, env: { DATABASE_URL: db.url } });
    runIds = await Promise.all(Array.from({ length: 2 }, () => h.startRun('at-rest', '1.0.0', {})));
    await eventually(async () => {
      for (const runId of runIds) expect((await h.run(runId)).status).toBe('completed');
    });
    // Ended runs are never written again: only the test moves their updated_at from here on.
    await h.dataSource.query(`UPDATE workflow_runs SET updated_at = '2026-01-01T00:00:00Z' WHERE run_id = ANY($1)`, [runIds]);
  });

  beforeEach(async () => {
    early = new Client({ connectionString: db.url });
    await early.connect();
  });

  afterEach(async () => {
    await early.query('ROLLBACK').catch(() => undefined);
    await early.end();
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  /** Follows the feed from `cursor` to its current end, as a client does; the runs seen and where it stopped. */
  const follow = async (since: string, cursor: string | null): Promise<{ seen: string[]; cursor: string | null }> => {
    const seen: string[] = [];
    for (let asks = 0; asks < 20; asks++) {
      const res = await h.call('GET', `/api/runs?workflow=at-rest&updated_since=${encodeURIComponent(since)}&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const body = res.body as FeedPage;
      if (body.runs.length === 0) return { seen, cursor };
      seen.push(...body.runs.map((r) => r.run_id));
      cursor = body.next_cursor;
    }
    throw new Error('the feed did not end');
  };

  it('delivers the change of a transaction that started first and committed after a later change was read', async () => {
    const [first, second] = runIds;
    const since = '2026-06-01T00:00:00Z';
    // The early transaction changes the first run (updated_at = its start) and stays open.
    await early.query('BEGIN');
    await early.query(`UPDATE workflow_runs SET updated_at = now() WHERE run_id = $1`, [first]);
    // A later one changes the second run and commits: its updated_at is after the early one's.
    await h.dataSource.query(`UPDATE workflow_runs SET updated_at = now() WHERE run_id = $1`, [second]);

    // A follower reads the feed while the early transaction is open: the later change waits behind it.
    const before = await follow(since, null);
    expect(before.seen).toEqual([]);

    await early.query('COMMIT');
    // Once it has committed, the follower, going on from where it was, gets both, oldest change first.
    const after = await eventually(async () => {
      const next = await follow(since, before.cursor);
      expect(next.seen).toEqual([first, second]);
      return next;
    });
    expect(after.seen).toEqual([first, second]);
  });

  it('waits for an open transaction no longer than its hold limit', async () => {
    await early.query('BEGIN');
    const [{ started }] = (await early.query(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started`)).rows as Array<{ started: string }>;
    // With the open transaction the horizon is its start; with no hold allowed, it is the present.
    expect((await feedHorizon(h.dataSource)) <= started).toBe(true);
    expect((await feedHorizon(h.dataSource, 0)) > started).toBe(true);
  });
});
