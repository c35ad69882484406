/**
 * GET /api/runs?updated_since= followed page by page: one statement updates a batch of runs, so many runs share one
 * updated_at, and a page can end inside such a tie. Following `next_cursor` must deliver every one of them.
 */
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { AT_REST_WORKFLOW } from '../testing/at-rest.workflow';

jest.setTimeout(60_000);

const TIE = '2026-03-01T10:00:00.123456Z';

interface FeedPage {
  runs: { run_id: string; updated_at: string }[];
  next_cursor: string | null;
  next_updated_since: string | null;
}

describe('GET /api/runs?updated_since= followed with next_cursor', () => {
  let db: TestDatabase;
  let h: ExecutorHarness;
  /** In feed order: one run before the tie, ten sharing TIE (by run_id), one after. */
  let expected: string[];

  beforeAll(async () => {
    db = await createTestDatabase('wf_feed');
    h = await startExecutorHarness({ workflows: { 'at-rest.yaml': AT_REST_WORKFLOW }, env: { DATABASE_URL: db.url } });
    const runIds = await Promise.all(Array.from({ length: 12 }, () => h.startRun('at-rest', '1.0.0', {})));
    await eventually(async () => {
      for (const runId of runIds) expect((await h.run(runId)).status).toBe('completed');
    });
    // Ended runs are never written again: their times stay where the test puts them.
    const [before, after, ...tied] = runIds;
    await h.dataSource.query(`UPDATE workflow_runs SET updated_at = $2 WHERE run_id = ANY($1)`, [tied, TIE]);
    await h.dataSource.query(`UPDATE workflow_runs SET updated_at = $2 WHERE run_id = $1`, [before, '2026-03-01T09:00:00Z']);
    await h.dataSource.query(`UPDATE workflow_runs SET updated_at = $2 WHERE run_id = $1`, [after, '2026-03-01T11:00:00Z']);
    expected = [before, ...[...tied].sort(), after];
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  const page = async (query: string): Promise<FeedPage> => {
    const res = await h.call('GET', `/api/runs?workflow=at-rest&${query}`);
    expect([query, res.status]).toEqual([query, 200]);
    return res.body as FeedPage;
  };

  /** Follows the feed from `since` as a client does: the same updated_since, the last page's next_cursor. */
  const follow = async (since: string, limit: number): Promise<string[]> => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let asks = 0; asks < 50; asks++) {
      const body: FeedPage = await page(`updated_since=${encodeURIComponent(since)}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      if (body.runs.length === 0) {
        // Nothing new: the cursor stays where it was.
        expect(body.next_cursor).toBe(cursor);
        return seen;
      }
      seen.push(...body.runs.map((r) => r.run_id));
      expect(body.next_updated_since).toBe(body.runs.at(-1)?.updated_at);
      cursor = body.next_cursor;
      expect(cursor).toEqual(expect.any(String));
    }
    throw new Error(`the feed did not end: ${seen.length} runs seen`);
  };

  it.each([1, 3, 4])('delivers every run of a tie that a page of %i ends inside, once each, oldest change first', async (limit) => {
    expect(await follow('1970-01-01T00:00:00Z', limit)).toEqual(expected);
  });

  it('starts after updated_since (exclusive) and continues inside the tie from the cursor alone', async () => {
    expect(await follow('2026-03-01T09:00:00Z', 2)).toEqual(expected.slice(1));
    expect(await follow(TIE, 2)).toEqual(expected.slice(11));
    // A client that continues with next_updated_since as its updated_since, and the cursor, still loses none.
    const first = await page(`updated_since=1970-01-01T00:00:00Z&limit=2`);
    const rest = await page(`updated_since=${encodeURIComponent(String(first.next_updated_since))}&cursor=${first.next_cursor}`);
    expect([...first.runs, ...rest.runs].map((r) => r.run_id)).toEqual(expected);
  });

  it('a follower at the end gets the next change of any run from its cursor', async () => {
    const all = await page('updated_since=1970-01-01T00:00:00Z&limit=500');
    const end = String(all.next_cursor);
    const idle = await page(`updated_since=1970-01-01T00:00:00Z&cursor=${end}`);
    expect(idle).toMatchObject({ runs: [], next_cursor: end, next_updated_since: null });
    // A run changes again, in the same instant as the tie's last run: after it in (updated_at, run_id) order or not,
    // a later change is after the cursor.
    const changed = expected[3];
    await h.dataSource.query(`UPDATE workflow_runs SET updated_at = '2026-03-01T12:00:00Z' WHERE run_id = $1`, [changed]);
    const next = await page(`updated_since=1970-01-01T00:00:00Z&cursor=${end}`);
    expect(next.runs.map((r) => r.run_id)).toEqual([changed]);
    await h.dataSource.query(`UPDATE workflow_runs SET updated_at = $2 WHERE run_id = $1`, [changed, TIE]);
  });

  it("refuses the list's cursor on the feed and the feed's on the list (422, naming cursor)", async () => {
    const list = await page('limit=1');
    const feed = await page('updated_since=1970-01-01T00:00:00Z&limit=1');
    expect(list.next_cursor).toEqual(expect.any(String));
    expect(feed.next_cursor).toEqual(expect.any(String));
    for (const query of [`updated_since=1970-01-01T00:00:00Z&cursor=${list.next_cursor}`, `cursor=${feed.next_cursor}`, 'updated_since=1970-01-01T00:00:00Z&cursor=abc']) {
      const res = await h.call('GET', `/api/runs?${query}`);
      expect([query, res.status, (res.body as { errors?: { field: string }[] }).errors?.[0]?.field]).toEqual([query, 422, 'cursor']);
    }
  });
});
