// rate_limit with `mode: delay` under a burst to one key (docs/events.md): the key's state row stays a few bytes per
// start of the window however many events wait, the deferred starts stop at the delay horizon, and a year-long window
// answers 202 with the events past it skipped `rate_limited`. The real app on PostgreSQL, a stand-in executor.
import { RequesterId } from '@pancha/contracts';
import { httpJson, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { bootCoreSpec } from '../testing/core-test-app';
import { catalogExecutor } from '../testing/catalog-executor';

jest.setTimeout(180_000);

const QUEUE = parseManifest(`
name: queue
version: 1.0.0
security: { actions: [task] }
triggers:
  - name: hourly
    event: q.hourly
    key: event.data.k
    rate_limit: { max: 5, per: 1h, mode: delay }
  - name: yearly
    event: q.yearly
    key: event.data.k
    rate_limit: { max: 1, per: 365d, mode: delay }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest as WorkflowManifest;

const executor = catalogExecutor([QUEUE]);
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

interface Answer {
  runs: unknown[];
  skipped: { reason: string; detail: string }[];
  deferred: { reason: string; due_at: string }[];
}

describe('rate_limit delay: a burst to one key', () => {
  let core: ServiceWithDatabase;

  /** `n` events of `type` for key `k`, in arrays of 500 (one transaction each); every answer. */
  const publish = async (type: string, k: string, n: number): Promise<Answer[]> => {
    const answers: Answer[] = [];
    for (let from = 0; from < n; from += 500) {
      const events = Array.from({ length: Math.min(500, n - from) }, (_, i) => ({ id: `${type}-${k}-${from + i}`, type, data: { k } }));
      const res = await httpJson('POST', `${core.url}/events`, events, await core.keys.mint(RequesterId.Operator, 'core'));
      expect(res.status).toBe(202);
      answers.push(...(res.body as { events: Answer[] }).events);
    }
    return answers;
  };
  const stateRow = async (trigger: string, k: string) =>
    (
      await core.dataSource.query(
        `SELECT jsonb_array_length(state->'runs') AS runs, octet_length(state::text) AS text_bytes, pg_column_size(state) AS stored_bytes
         FROM event_filter_state WHERE workflow = 'queue' AND "trigger" = $1 AND key = $2`,
        [trigger, k],
      )
    )[0] as { runs: number; text_bytes: number; stored_bytes: number };
  const waiting = async (trigger: string, k: string) =>
    Number((await core.dataSource.query(`SELECT count(*) AS n FROM event_deferred_starts WHERE "trigger" = $1 AND key = $2`, [trigger, k]))[0].n);

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_events_rate_limit_delay', executor, bucket, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' } });
  });

  afterAll(() => core?.close());

  it('2,000 events at 5 per hour: 5 run, 120 wait (24 h ahead at most), the rest are rate_limited; the state row holds 5 times', async () => {
    const answers = await publish('q.hourly', 'a', 2000);
    const answered = Date.now();
    expect(answers.filter((a) => a.runs.length === 1)).toHaveLength(5);
    const deferred = answers.flatMap((a) => a.deferred);
    expect(deferred).toHaveLength(24 * 5);
    for (const d of deferred) expect(Date.parse(d.due_at) - answered).toBeLessThanOrEqual(24 * 3_600_000);
    const skipped = answers.flatMap((a) => a.skipped);
    expect(skipped).toHaveLength(2000 - 5 - 120);
    expect(skipped[0]).toMatchObject({ reason: 'rate_limited', detail: expect.stringContaining('further than delay mode schedules a start (1d ahead for per 1h)') });
    expect(await waiting('hourly', 'a')).toBe(120);
    // Before the bound this row held all 2,000 start times (30,023 bytes as text), rewritten by every event of the key.
    const row = await stateRow('hourly', 'a');
    expect(row.runs).toBe(5);
    expect(row.text_bytes).toBeLessThan(200);
  });

  it('per 365d, max 1: 1,000 events answer 202; one runs, one waits a year, the rest are rate_limited', async () => {
    const answers = await publish('q.yearly', 'b', 1000);
    expect(answers.filter((a) => a.runs.length === 1)).toHaveLength(1);
    expect(answers.flatMap((a) => a.deferred)).toHaveLength(1);
    expect(answers.flatMap((a) => a.skipped).every((s) => s.reason === 'rate_limited')).toBe(true);
    expect(await waiting('yearly', 'b')).toBe(1);
    expect((await stateRow('yearly', 'b')).runs).toBe(1);
  });
});
