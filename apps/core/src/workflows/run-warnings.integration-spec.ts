// A run's start warnings (a deprecated version, inputs migrated from an older major: the 202's `warnings`) wherever Core
// answers for the run: its own record of a start the executor does not have (queued, refused, cancelled before it got
// there), and every summary of GET /runs (its own runs and the executor's, the change feed too), [] when there were
// none. The real app on PostgreSQL; a stand-in executor whose summaries carry no warnings, as the executor's list.
import { randomUUID } from 'node:crypto';
import { EXECUTOR_RUN_STARTS_ROUTE, RequesterId, type WorkflowCatalog } from '@pancha/contracts';
import { OutboxRelay } from '@pancha/outbox';
import { httpJson, poll, type RecordedRequest, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(60_000);

const parsed = (text: string): WorkflowManifest => {
  const { manifest, findings } = parseManifest(text);
  if (!manifest) throw new Error(JSON.stringify(findings));
  return manifest;
};
const STEPS = `security: { actions: [task] }
steps: [{ id: a, action: task, with: { title: x } }]`;
// aged's only version is deprecated (runs start, warned); fresh's is not.
const AGED = parsed(`name: aged\nversion: 1.0.0\ndeprecated: true\n${STEPS}`);
const FRESH = parsed(`name: fresh\nversion: 1.0.0\n${STEPS}`);
const version = (m: WorkflowManifest) => ({ version: m.version, present: true, deprecated: m.deprecated, retired: m.retired, manifest: m as unknown as Record<string, unknown> });
const DEPRECATED = ['aged@1.0.0 is deprecated'];

/** What the stand-in executor answers a start with: accepted (listed from then on), or refused for good. */
let refuseStarts = false;
/** The executor's runs, as its list summarises them: no `warnings`. */
const executorRuns = new Map<string, Record<string, unknown>>();
const summaryOf = (start: { run_id: string; workflow: string; version: string; user_id: string; trace_id: string }) => ({
  run_id: start.run_id,
  workflow: start.workflow,
  version: start.version,
  status: 'running',
  user_id: start.user_id,
  product: null,
  trace_id: start.trace_id,
  parent_run_id: null,
  created_at: new Date().toISOString(),
  started_at: null,
  completed_at: null,
  duration_ms: null,
  error: null,
});

function listRuns(req: RecordedRequest) {
  const user = req.query.get('user_id');
  const runs = [...executorRuns.values()].filter((r) => !user || r.user_id === user).sort((a, b) => (String(a.created_at) < String(b.created_at) ? 1 : -1));
  return { status: 200, body: { runs, next_cursor: req.query.get('updated_since') ? req.query.get('cursor') : null, ...(req.query.get('updated_since') ? { next_updated_since: null } : {}) } };
}

const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') {
    const catalog: WorkflowCatalog = {
      revision: 'r1',
      workflows: [
        { name: 'aged', enabled: true, default_version: '1.0.0', versions: [version(AGED)] },
        { name: 'fresh', enabled: true, default_version: '1.0.0', versions: [version(FRESH)] },
      ],
    };
    return { status: 200, body: catalog };
  }
  if (req.method === 'POST' && req.path === '/api/runs') {
    if (refuseStarts) return { status: 422, body: { code: 'validation_failed', message: 'refused' } };
    const start = req.body as Parameters<typeof summaryOf>[0];
    executorRuns.set(start.run_id, summaryOf(start));
    return { status: 202, body: { run_id: start.run_id } };
  }
  if (req.method === 'GET' && req.path === '/api/runs') return listRuns(req);
  if (req.method === 'GET' && req.path.startsWith('/api/runs/')) return { status: 404, body: { code: 'run_not_found', message: 'no run' } };
  if (req.method === 'POST' && /^\/api\/runs\/[^/]+\/cancel$/.test(req.path)) return { status: 404, body: { code: 'run_not_found', message: 'no run' } };
  return { status: 404, body: { code: 'not_found' } };
});
executor.speaksBatch(EXECUTOR_RUN_STARTS_ROUTE, '/api/runs');
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe("a run's start warnings in Core's own record and in GET /runs", () => {
  let core: ServiceWithDatabase;

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_run_warnings', executor, bucket });
  });
  afterAll(() => core?.close());

  const as = async (method: string, route: string, body?: unknown) => httpJson(method, `${core.url}${route}`, body, await core.keys.mint(RequesterId.Prana, 'core'));
  const start = (workflow: string, user: string) => as('POST', `/workflows/${workflow}/runs`, { user_id: user, inputs: {} });
  const listed = async (query: string): Promise<Record<string, { warnings?: unknown }>> => {
    const res = await as('GET', `/runs?${query}`);
    expect([query, res.status]).toEqual([query, 200]);
    return Object.fromEntries((res.body.runs as { run_id: string; warnings?: unknown }[]).map((r) => [r.run_id, r]));
  };

  it('a start queued, then cancelled before the executor got it: GET /runs/:id, the cancel and the list say its warnings', async () => {
    const user = `q-${randomUUID().slice(0, 8)}`;
    const relay = core.app.get(OutboxRelay);
    await relay.stop();
    try {
      const [warned, plain] = [await start('aged', user), await start('fresh', user)];
      expect([warned.status, warned.body.warnings, plain.status, plain.body.warnings]).toEqual([202, DEPRECATED, 202, undefined]);
      const queued = await as('GET', `/runs/${warned.body.run_id}`);
      expect(queued.body).toMatchObject({ delivery: 'queued', status: 'pending', warnings: DEPRECATED });
      expect((await as('GET', `/runs/${plain.body.run_id}`)).body).toMatchObject({ delivery: 'queued', warnings: [] });

      const cancel = await as('POST', `/runs/${warned.body.run_id}/cancel`);
      expect(cancel.body).toMatchObject({ status: 'cancelled', delivery: 'cancelled', warnings: DEPRECATED });
      expect((await as('POST', `/runs/${plain.body.run_id}/cancel`)).body).toMatchObject({ delivery: 'cancelled', warnings: [] });
      expect((await as('GET', `/runs/${warned.body.run_id}`)).body).toMatchObject({ delivery: 'cancelled', warnings: DEPRECATED });
      const runs = await listed(`user_id=${user}`);
      expect(runs[warned.body.run_id]).toMatchObject({ delivery: 'cancelled', warnings: DEPRECATED });
      expect(runs[plain.body.run_id]).toMatchObject({ delivery: 'cancelled', warnings: [] });
    } finally {
      relay.start();
    }
  });

  it('a start the executor refused: GET /runs/:id and the list say its warnings', async () => {
    const user = `r-${randomUUID().slice(0, 8)}`;
    refuseStarts = true;
    try {
      const res = await start('aged', user);
      const view = await poll('the refusal recorded', async () => {
        const r = await as('GET', `/runs/${res.body.run_id}`);
        return r.body.delivery === 'refused' ? r.body : undefined;
      });
      expect(view).toMatchObject({ status: 'failed', error: { code: 'start_refused' }, warnings: DEPRECATED });
      expect((await listed(`user_id=${user}`))[res.body.run_id]).toMatchObject({ status: 'failed', warnings: DEPRECATED });
    } finally {
      refuseStarts = false;
    }
  });

  it("the executor's summaries, which carry none, get the warnings Core stored with the start; a run Core did not start gets []", async () => {
    const user = `e-${randomUUID().slice(0, 8)}`;
    const [warned, plain] = [await start('aged', user), await start('fresh', user)];
    await poll('both starts at the executor', async () => (executorRuns.has(warned.body.run_id) && executorRuns.has(plain.body.run_id)) || undefined);
    // A run of the executor's own (a sub-workflow's, say): Core has no record of it.
    const foreign = randomUUID();
    executorRuns.set(foreign, { ...summaryOf({ run_id: foreign, workflow: 'fresh', version: '1.0.0', user_id: user, trace_id: 'f'.repeat(32) }) });
    for (const query of [`user_id=${user}`, `user_id=${user}&updated_since=2020-01-01T00:00:00Z`]) {
      const runs = await listed(query);
      expect([query, Object.keys(runs).sort()]).toEqual([query, [warned.body.run_id, plain.body.run_id, foreign].sort()]);
      expect([query, runs[warned.body.run_id].warnings, runs[plain.body.run_id].warnings, runs[foreign].warnings]).toEqual([query, DEPRECATED, [], []]);
    }
    // A summary that carries its warnings (an executor that lists them) is passed on as it is.
    executorRuns.set(foreign, { ...executorRuns.get(foreign), warnings: ['kid@^1 resolved to 2.0.0 with migrated inputs'] });
    expect((await listed(`user_id=${user}`))[foreign].warnings).toEqual(['kid@^1 resolved to 2.0.0 with migrated inputs']);
  });

  it('stores the warnings with the request, NULL for none', async () => {
    const user = `s-${randomUUID().slice(0, 8)}`;
    const [warned, plain] = [await start('aged', user), await start('fresh', user)];
    const rows: { run_id: string; warnings: string[] | null }[] = await core.dataSource.query(
      `SELECT run_id::text AS run_id, warnings FROM workflow_run_requests WHERE user_id = $1`,
      [user],
    );
    expect(Object.fromEntries(rows.map((r) => [r.run_id, r.warnings]))).toEqual({ [warned.body.run_id]: DEPRECATED, [plain.body.run_id]: null });
  });
});
