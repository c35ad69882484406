/**
 * GET /api/runs and GET /api/runs/:run_id against a real PostgreSQL: the run view carries what its start was warned of
 * (the run's `warnings` column), and a query parameter a read does not define is a 400 naming it, never ignored (a typo
 * in a filter would answer every run as if filtered).
 */
import { RUN_LIST_QUERY_PARAMETERS, type RunListQueryDto, type RunView } from '@pancha/contracts';
import { eventually } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { AT_REST_WORKFLOW } from '../testing/at-rest.workflow';

jest.setTimeout(60_000);

const HELD = `
name: held
version: 1.0.0
security: { actions: [task] }
steps:
  - id: ask
    approval: { signal: go }
`;

interface Refusal {
  code: string;
  message: string;
  errors: { field: string; messages: string[] }[];
}

describe('run reads', () => {
  let h: ExecutorHarness;
  let warned: string;
  let plain: string;
  let held: string;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: { 'at-rest.yaml': AT_REST_WORKFLOW, 'held.yaml': HELD } });
    warned = await h.startRun('at-rest', '1.0.0', {}, { warnings: ['at-rest@1.0.0 is deprecated', 'inputs migrated from at-rest@0'] });
    plain = await h.startRun('at-rest', '1.0.0', {});
    held = await h.startRun('held', '1.0.0', {});
    await eventually(async () => {
      for (const runId of [warned, plain]) expect((await h.run(runId)).status).toBe('completed');
      expect((await h.run(held)).status).toBe('running');
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  const ids = (body: unknown): string[] => (body as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);

  describe('GET /api/runs/:run_id', () => {
    it("answers the start's warnings, as recorded with the run", async () => {
      const res = await h.call('GET', `/api/runs/${warned}`);
      expect(res.status).toBe(200);
      expect((res.body as RunView).warnings).toEqual(['at-rest@1.0.0 is deprecated', 'inputs migrated from at-rest@0']);
      const [row] = await h.dataSource.query(`SELECT warnings FROM workflow_runs WHERE run_id = $1`, [warned]);
      expect(row.warnings).toEqual((res.body as RunView).warnings);
    });

    it('answers warnings [] for a run started without any (the key is always there, like steps and signals)', async () => {
      const res = await h.call('GET', `/api/runs/${plain}`);
      expect(res.status).toBe(200);
      expect(res.body).toHaveProperty('warnings', []);
    });

    it('lists each run with its warnings ([] for none), so Core and PRANA show them for sub-workflow runs too', async () => {
      const res = await h.call('GET', `/api/runs?workflow=at-rest&limit=100`);
      expect(res.status).toBe(200);
      const runs = (res.body as { runs: { run_id: string; warnings: string[] }[] }).runs;
      expect(runs.find((r) => r.run_id === warned)?.warnings).toEqual(['at-rest@1.0.0 is deprecated', 'inputs migrated from at-rest@0']);
      expect(runs.find((r) => r.run_id === plain)?.warnings).toEqual([]);
    });

    it('refuses a query parameter with a 400 naming it: the route takes none', async () => {
      const res = await h.call('GET', `/api/runs/${warned}?steps=false`);
      expect(res.status).toBe(400);
      const body = res.body as Refusal;
      expect(body).toMatchObject({ code: 'bad_request', errors: [{ field: 'steps', messages: ['is not a query parameter of GET /api/runs/:run_id'] }] });
      expect(body.message).toContain('GET /api/runs/:run_id takes none');
    });
  });

  describe('GET /api/runs', () => {
    it('refuses a parameter it does not define with a 400 naming it, rather than answering every run unfiltered', async () => {
      const res = await h.call('GET', '/api/runs?state=failed');
      expect(res.status).toBe(400);
      const body = res.body as Refusal;
      expect(body.code).toBe('bad_request');
      expect(body.message).toMatch(/^unknown query parameter state: GET \/api\/runs takes workflow, version, status, /);
      expect(body.errors).toEqual([{ field: 'state', messages: ["is not a query parameter of GET /api/runs: a run's state is filtered by status"] }]);
    });

    it('names each unknown parameter, beside known ones', async () => {
      const res = await h.call('GET', '/api/runs?workflow=at-rest&stauts=completed&include_subruns=true&limit=5');
      expect(res.status).toBe(400);
      expect((res.body as Refusal).errors.map((e) => e.field)).toEqual(['stauts', 'include_subruns']);
    });

    it('takes every parameter of its DTO, and filters by them', async () => {
      const page = await h.call('GET', '/api/runs?workflow=at-rest&limit=1');
      expect(page.status).toBe(200);
      const cursor = (page.body as { next_cursor: string }).next_cursor;
      // Typed over the DTO's keys: a parameter added there needs a value here.
      const values: Record<keyof RunListQueryDto, string> = {
        workflow: 'at-rest',
        version: '1.0.0',
        status: 'completed',
        user_id: 'u1',
        product: 'p1',
        trace_id: '0'.repeat(32),
        since: '2026-01-01T00:00:00Z',
        until: '2999-01-01T00:00:00Z',
        include_children: 'true',
        limit: '5',
        cursor,
        updated_since: '2026-01-01T00:00:00Z',
      };
      expect([...RUN_LIST_QUERY_PARAMETERS].sort()).toEqual(Object.keys(values).sort());
      for (const [name, value] of Object.entries(values)) {
        const res = await h.call('GET', `/api/runs?${name}=${encodeURIComponent(value)}`);
        expect([name, res.status]).toEqual([name, 200]);
      }
      // Together, filtering as before: a typo refused does not change what the defined ones select.
      const both = ids((await h.call('GET', '/api/runs?workflow=at-rest&version=1.0.0&status=completed&user_id=u1&include_children=false&limit=5')).body);
      expect(both.sort()).toEqual([warned, plain].sort());
      expect(ids((await h.call('GET', '/api/runs?status=running')).body)).toEqual([held]);
    });
  });
});
