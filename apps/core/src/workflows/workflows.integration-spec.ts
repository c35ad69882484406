// Workflow runs on Core's public port: the real app on PostgreSQL, with a stand-in executor serving the catalog.
import { randomUUID } from 'node:crypto';
import { RequesterId, type WorkflowCatalog, EXECUTOR_RUN_STARTS_ROUTE } from '@pancha/contracts';
import { OutboxRelay } from '@pancha/outbox';
import { deferred, holdTable, httpJson, poll, type RecordedRequest, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest } from '@pancha/workflow-manifest';
import { decodeJwt } from 'jose';
import { DataSource } from 'typeorm';
import { WorkflowRunsService } from './workflow-runs.service';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(60_000);

const ONBOARD = parseManifest(`
name: onboard
version: 1.2.0
inputs:
  type: object
  required: [user_id, email]
  properties: { user_id: { type: string }, email: { type: string, format: email } }
security: { actions: [task] }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest!;
const OLD = { ...ONBOARD, version: '1.0.0', retired: true };
// notify 2.x renamed its input: callers of the retired 1.x are moved by its migration (WORKFLOWS.md).
const NOTIFY = parseManifest(`
name: notify
version: 2.0.0
inputs: { type: object, required: [email], properties: { email: { type: string }, channel: { type: string } } }
migrations:
  1.x: { email: "{{ inputs.mail }}", channel: "{{ inputs.?via.orValue(null) }}" }
security: { actions: [task] }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest!;
// 1.x's own schema: a caller of 1.x is checked against it before its inputs are migrated.
const NOTIFY_1 = {
  ...NOTIFY,
  version: '1.0.0',
  retired: true,
  migrations: {},
  inputs: { type: 'object', required: ['mail'], properties: { mail: { type: 'string' }, via: { type: 'string' } } },
};

let catalogEnabled = true;
let startAnswer: (req: RecordedRequest) => { status: number; body: unknown } | Promise<{ status: number; body: unknown }> = (req) => ({
  status: 202,
  body: { run_id: (req.body as { run_id: string }).run_id },
});
let cancelAnswer: (runId: string) => { status: number; body: unknown } = (runId) => ({ status: 202, body: { run_id: runId, status: 'running' } });
const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') {
    const catalog: WorkflowCatalog = {
      revision: `r-${catalogEnabled}`,
      workflows: [
        {
          name: 'onboard',
          enabled: catalogEnabled,
          default_version: '1.2.0',
          versions: [
            { version: '1.2.0', present: true, deprecated: false, retired: false, manifest: ONBOARD as unknown as Record<string, unknown> },
            { version: '1.0.0', present: false, deprecated: false, retired: true, manifest: OLD as unknown as Record<string, unknown> },
          ],
        },
        {
          name: 'notify',
          enabled: true,
          default_version: '2.0.0',
          versions: [
            { version: '2.0.0', present: true, deprecated: false, retired: false, manifest: NOTIFY as unknown as Record<string, unknown> },
            { version: '1.0.0', present: false, deprecated: false, retired: true, manifest: NOTIFY_1 as unknown as Record<string, unknown> },
          ],
        },
      ],
    };
    return { status: 200, body: catalog };
  }
  if (req.method === 'POST' && req.path === '/api/runs') return startAnswer(req);
  if (req.path === '/api/workflows/stats') {
    if (req.query.get('window') === 'soon') return { status: 400, body: { code: 'invalid_stats_window', message: 'window must be a duration such as 90m, 24h or 7d, not "soon"' } };
    return { status: 200, body: { window: req.query.get('window') ?? '24h', since: '2026-01-01T00:00:00.000Z', workflows: [{ name: req.query.get('name') ?? 'onboard', version: '1.2.0', runs: { completed: 2 }, total: 2, success_rate: 1, p50_ms: 10, p95_ms: 20, slowest_step: null, retries: 0, last_failure: null }] } };
  }
  if (req.path === '/api/plugins') return { status: 200, body: { plugins: [{ name: 'json-transform', version: '1.0.0', source: 'directory', status: 'loaded', description: null, retryable_codes: [], secrets: [], error: null, file: 'json-transform/index.js' }] } };
  if (req.path === '/api/plugins/nope') return { status: 404, body: { code: 'unknown_plugin', message: 'no plugin named nope' } };
  if (req.method === 'GET' && req.path.startsWith('/api/runs/')) return { status: 404, body: { code: 'run_not_found', message: 'no run' } };
  const cancel = /^\/api\/runs\/([^/]+)\/cancel$/.exec(req.path);
  if (req.method === 'POST' && cancel) return cancelAnswer(cancel[1]);
  if (req.method === 'POST' && /^\/api\/runs\/[^/]+\/retry$/.test(req.path)) return { status: 202, body: { run_id: 'x', status: 'running' } };
  if (req.method === 'POST' && /^\/api\/runs\/[^/]+\/signals\/[^/]+$/.test(req.path)) return { status: 202, body: { signal_id: 's', run: { run_id: 'x', status: 'running' } } };
  if (req.method === 'GET' && req.path === '/api/workflows') return { status: 200, body: { workflows: [onboardSummary(req, catalogEnabled)], revision: `r-${catalogEnabled}` } };
  if (req.method === 'GET' && req.path === '/api/workflows/onboard') return { status: 200, body: onboardSummary(req, catalogEnabled) };
  const version = /^\/api\/workflows\/onboard\/versions\/([^/]+)$/.exec(req.path);
  if (req.method === 'GET' && version) return { status: 200, body: version[1] === '1.0.0' ? OLD : ONBOARD };
  const toggle = /^\/api\/workflows\/onboard\/(enable|disable)$/.exec(req.path);
  if (req.method === 'POST' && toggle) {
    const { actor, reason } = req.body as { actor?: string; reason?: string };
    const enabled = toggle[1] === 'enable';
    return { status: 200, body: { ...onboardSummary(req, enabled), setting: { enabled, updated_by: actor, reason } } };
  }
  if (req.method === 'GET' && req.path === '/api/runs') return listRuns(req);
  return { status: 404, body: { code: 'not_found' } };
});
executor.speaksBatch(EXECUTOR_RUN_STARTS_ROUTE, '/api/runs');

/** Runs the stand-in executor lists (GET /api/runs), as the real one: newest first, filtered, in the token's products. */
const executorRuns: { run_id: string; workflow: string; version: string; status: string; user_id: string; product: string | null; created_at: string }[] = [];

function listRuns(req: RecordedRequest) {
  const { products } = decodeJwt(String(req.headers.authorization).replace(/^Bearer /, '')) as { products?: string[] };
  const q = req.query;
  const key = (r: { created_at: string; run_id: string }) => `${r.created_at}|${r.run_id}`;
  const cursor = q.get('cursor');
  const after = cursor ? Buffer.from(cursor, 'base64url').toString() : undefined;
  const limit = Number(q.get('limit') ?? 50);
  const rows = executorRuns
    .filter((r) => (!q.get('user_id') || r.user_id === q.get('user_id')) && (!q.get('status') || r.status === q.get('status')))
    .filter((r) => !products || (r.product !== null && products.includes(r.product)))
    .sort((a, b) => (key(a) < key(b) ? 1 : -1))
    .filter((r) => after === undefined || key(r) < after);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const next = rows.length > limit && last ? Buffer.from(key(last)).toString('base64url') : null;
  return { status: 200, body: { runs: page.map((r) => ({ ...r, trace_id: 't', parent_run_id: null, started_at: null, completed_at: null, duration_ms: null, error: null })), next_cursor: next } };
}

/** onboard@1.2.0's live runs per product at the stand-in executor, one of them without a product. */
const LIVE_ONBOARD_RUNS: (string | null)[] = ['acme', 'acme', 'other', null];

/** The executor's summary of onboard, its live_runs counted as the executor does: of the products its token names. */
function onboardSummary(req: RecordedRequest, enabled: boolean) {
  const { products } = decodeJwt(String(req.headers.authorization).replace(/^Bearer /, '')) as { products?: string[] };
  const live = LIVE_ONBOARD_RUNS.filter((product) => !products || (product !== null && products.includes(product))).length;
  return {
    name: 'onboard',
    enabled,
    default_version: '1.2.0',
    description: null,
    versions: [{ version: '1.2.0', content_hash: 'h', registered_at: '2026-01-01T00:00:00.000Z', present: true, deprecated: false, retired: false, description: null, file: 'onboard.yaml', live_runs: live }],
    setting: null,
  };
}
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('Core workflow runs', () => {
  let core: ServiceWithDatabase;
  let dataSource: DataSource;

  const as = async (who: RequesterId | 'anonymous', method: string, route: string, body?: unknown, claims?: { products?: string[] }) =>
    httpJson(method, `${core.url}${route}`, body, who === 'anonymous' ? undefined : await core.keys.mint(who, 'core', claims));
  const count = async (sql: string): Promise<number> => Number((await dataSource.query(sql))[0].n);

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_wf', executor, bucket });
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  describe('GET /workflows/stats and GET /plugins (the executor’s, through Core)', () => {
    it('passes window and name on and answers with the executor’s stats', async () => {
      const res = await as(RequesterId.Operator, 'GET', '/workflows/stats?window=7d&name=onboard');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ window: '7d', workflows: [expect.objectContaining({ name: 'onboard', runs: { completed: 2 } })] });
      const seen = executor.requests.filter((r) => r.path === '/api/workflows/stats').at(-1);
      expect([seen?.query.get('window'), seen?.query.get('name')]).toEqual(['7d', 'onboard']);
    });

    it('passes bucket on (the per-bucket series of PRANA’s charts)', async () => {
      const res = await as(RequesterId.Operator, 'GET', '/workflows/stats?window=7d&name=onboard&bucket=hour');
      expect(res.status).toBe(200);
      const seen = executor.requests.filter((r) => r.path === '/api/workflows/stats').at(-1);
      expect(Object.fromEntries(seen?.query ?? [])).toEqual({ window: '7d', name: 'onboard', bucket: 'hour' });
    });

    it('passes the caller’s products on to the executor in the token, as run reads do; unrestricted callers are not narrowed', async () => {
      const tokenOf = async (claims?: { products?: string[] }, who: RequesterId | 'anonymous' = RequesterId.Prana) => {
        const res = await as(who, 'GET', '/workflows/stats?window=24h&name=publish-one&bucket=day', undefined, claims);
        expect(res.status).toBe(200);
        const seen = executor.requests.filter((r) => r.path === '/api/workflows/stats').at(-1);
        expect(Object.fromEntries(seen?.query ?? [])).toEqual({ window: '24h', name: 'publish-one', bucket: 'day' });
        return decodeJwt(String(seen?.headers.authorization).replace('Bearer ', ''));
      };
      expect(await tokenOf({ products: ['other'] })).toMatchObject({ sub: 'bhiv_core', products: ['other'] });
      // Anonymous callers may read but are granted no products: the executor is told none, so it counts no run.
      expect(await tokenOf(undefined, 'anonymous')).toMatchObject({ sub: 'bhiv_core', products: [] });
      expect(await tokenOf()).not.toHaveProperty('products');
    });

    it('a bad window is the executor’s 400 with its code', async () => {
      const res = await as(RequesterId.Operator, 'GET', '/workflows/stats?window=soon');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'invalid_stats_window' });
    });

    it('a version view says whether the version is still in the workflows directory (present), as the list does', async () => {
      const gone = await as(RequesterId.Operator, 'GET', '/workflows/onboard/versions/1.0.0');
      expect(gone.status).toBe(200);
      expect(gone.body).toMatchObject({ version: '1.0.0', present: false });
      const live = await as(RequesterId.Operator, 'GET', '/workflows/onboard/versions/1.2.0');
      expect(live.body).toMatchObject({ version: '1.2.0', present: true });
    });

    it('lists plugins and answers 404 unknown_plugin for a name the executor does not have', async () => {
      const list = await as(RequesterId.Operator, 'GET', '/plugins');
      expect(list.body).toEqual({ plugins: [expect.objectContaining({ name: 'json-transform', status: 'loaded' })] });
      const missing = await as(RequesterId.Operator, 'GET', '/plugins/nope');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ code: 'unknown_plugin' });
    });
  });

  describe('GET /workflows and GET /workflows/:name (the executor’s registry, through Core)', () => {
    it('live_runs counts only runs the caller may see: Core asks with the caller’s products, as for runs and stats', async () => {
      const liveOf = async (who: RequesterId | 'anonymous', claims?: { products?: string[] }) => {
        const list = await as(who, 'GET', '/workflows', undefined, claims);
        const show = await as(who, 'GET', '/workflows/onboard', undefined, claims);
        expect([list.status, show.status]).toEqual([200, 200]);
        const onboard = (list.body.workflows as { name: string; versions: { live_runs: number }[] }[]).find((w) => w.name === 'onboard');
        return [onboard?.versions[0].live_runs, show.body.versions[0].live_runs];
      };
      expect(await liveOf(RequesterId.Prana, { products: ['acme'] })).toEqual([2, 2]);
      expect(await liveOf(RequesterId.Prana, { products: ['other'] })).toEqual([1, 1]);
      // Anonymous callers may read but are granted no products: no live run is theirs.
      expect(await liveOf('anonymous')).toEqual([0, 0]);
      // Unrestricted: every live run, the product-less one included.
      expect(await liveOf(RequesterId.Prana)).toEqual([4, 4]);
    });
  });

  describe('POST /workflows/:name/enable and /disable', () => {
    it('the executor is told who asked Core (actorOf), so its setting and Bucket entry name the operator, not Core', async () => {
      const off = await as(RequesterId.Operator, 'POST', '/workflows/onboard/disable', { reason: 'provider outage', actor: 'user:someone-else' });
      expect(off.status).toBe(200);
      const on = await as(RequesterId.Operator, 'POST', '/workflows/onboard/enable', {});
      expect(on.status).toBe(200);
      const sent = executor.requests.filter((r) => r.method === 'POST' && /^\/api\/workflows\/onboard\/(enable|disable)$/.test(r.path));
      // Core's own DTO has no actor: a caller cannot name someone else through Core (the field is dropped).
      expect(sent.map((r) => [r.path, r.body])).toEqual([
        ['/api/workflows/onboard/disable', { reason: 'provider outage', actor: RequesterId.Operator }],
        ['/api/workflows/onboard/enable', { actor: RequesterId.Operator }],
      ]);
      expect(decodeJwt(String(sent[0].headers.authorization).replace(/^Bearer /, ''))).toMatchObject({ sub: RequesterId.Core });
    });

    it('enable and disable answer live_runs of the caller’s products too', async () => {
      const off = await as(RequesterId.Operator, 'POST', '/workflows/onboard/disable', { reason: 'scope' }, { products: ['other'] });
      const on = await as(RequesterId.Operator, 'POST', '/workflows/onboard/enable', {}, { products: ['acme'] });
      expect([off.status, on.status]).toEqual([200, 200]);
      expect([off.body.versions[0].live_runs, on.body.versions[0].live_runs]).toEqual([1, 2]);
      expect((await as(RequesterId.Operator, 'POST', '/workflows/onboard/enable', {})).body.versions[0].live_runs).toBe(4);
    });
  });

  describe('POST /runs/:id/cancel, /retry and /signals/:name', () => {
    it('tell the executor who asked Core, so the control is recorded in their name, not Core\'s; a caller cannot name another', async () => {
      const run = '7a1d3c1e-0f3b-4a55-9d6f-0d2b9c1f4e12';
      expect((await as(RequesterId.Operator, 'POST', `/runs/${run}/cancel`, { actor: 'user:someone-else' })).status).toBe(202);
      expect((await as(RequesterId.Operator, 'POST', `/runs/${run}/retry`)).status).toBe(202);
      expect((await as(RequesterId.Operator, 'POST', `/runs/${run}/signals/approve`, { payload: { ok: true }, actor: 'user:someone-else' })).status).toBe(202);
      const sent = executor.requests.filter((r) => r.method === 'POST' && r.path.startsWith(`/api/runs/${run}/`));
      expect(sent.map((r) => [r.path, r.body])).toEqual([
        [`/api/runs/${run}/cancel`, { actor: RequesterId.Operator }],
        [`/api/runs/${run}/retry`, { actor: RequesterId.Operator }],
        [`/api/runs/${run}/signals/approve`, { payload: { ok: true }, actor: RequesterId.Operator }],
      ]);
    });
  });

  describe('POST /workflows/:name/runs', () => {
    it('answers 202 with the run and its trace at once, and the executor receives the start in that trace', async () => {
      const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'u1@example.com' } });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ workflow: 'onboard', version: '1.2.0', status: 'pending' });
      const start = await poll('the start at the executor', async () =>
        executor.requests.find((r) => r.method === 'POST' && (r.body as { run_id: string }).run_id === res.body.run_id),
      );
      expect(start.body).toMatchObject({ workflow: 'onboard', version: '1.2.0', trace_id: res.body.trace_id, user_id: 'u1', actor: 'prana' });
      await poll('the request marked delivered', async () =>
        (await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE run_id = '${res.body.run_id}' AND delivery = 'delivered'`)) === 1 || undefined,
      );
    });

    it('starts that arrive while one commits share the next transaction, each answered after it, each message in its own trace', async () => {
      // Hold the table: the first start's transaction waits on the lock, and the starts after it queue for the next commit.
      const held = await holdTable(dataSource, 'workflow_run_requests');
      const runs = core.app.get(WorkflowRunsService);
      let answered = 0;
      const send = (n: number) =>
        as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: `g${n}`, inputs: { user_id: `g${n}`, email: `g${n}@example.com` } }).then(
          (r) => (answered++, r),
        );
      const first = send(0);
      await held.waiting('INSERT INTO workflow_run_requests');
      const rest = [1, 2, 3, 4].map(send);
      await poll('four starts queued for the next commit', async () => runs.queued === 4 || undefined);
      expect(answered).toBe(0);
      await held.release();
      const replies = await Promise.all([first, ...rest]);
      expect(replies.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
      const ids = replies.map((r) => r.body.run_id as string);
      const rows = (await dataSource.query(`SELECT run_id, trace_id, xmin::text AS tx FROM workflow_run_requests WHERE run_id = ANY($1)`, [ids])) as {
        run_id: string;
        trace_id: string;
        tx: string;
      }[];
      const txOf = new Map(rows.map((r) => [r.run_id, r.tx]));
      expect(new Set(ids.slice(1).map((id) => txOf.get(id))).size).toBe(1);
      expect(txOf.get(ids[0])).not.toBe(txOf.get(ids[1]));
      // Each start reaches the executor as its own, in its own trace, though four committed together.
      for (const [n, reply] of replies.entries()) {
        const start = await poll('the start at the executor', async () =>
          executor.requests.find((r) => r.method === 'POST' && r.path === '/api/runs' && (r.body as { run_id: string }).run_id === reply.body.run_id),
        );
        expect(start.body).toMatchObject({ trace_id: reply.body.trace_id, user_id: `g${n}` });
      }
      expect(new Set(replies.map((r) => r.body.trace_id)).size).toBe(5);
    });

    it('bad inputs are a 422 naming each field, and nothing is stored or sent', async () => {
      const before = await count(`SELECT count(*) AS n FROM outbox`);
      const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { email: 'nope' } });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('inputs_invalid');
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['inputs.email', 'inputs.user_id']);
      expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(before);
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE inputs->>'email' = 'nope'`)).toBe(0);
    });

    it('a user_id of only whitespace is a 422 naming it (Karma could not score the run), and nothing is stored', async () => {
      const before = await count(`SELECT count(*) AS n FROM outbox`);
      const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: ' \t ', inputs: { user_id: 'u1', email: 'blank@example.com' } });
      expect([res.status, res.body.errors?.[0]?.field]).toEqual([422, 'user_id']);
      expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(before);
    });

    it('refuses a query parameter the route does not define (?dry=1) with a 400 naming it: nothing is stored or sent', async () => {
      const before = await count(`SELECT count(*) AS n FROM outbox`);
      const body = { user_id: 'u1', inputs: { user_id: 'u1', email: 'dry-run@example.com' } };
      const dry = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs?dry=1', body);
      expect(dry.status).toBe(400);
      expect(dry.body).toMatchObject({ code: 'bad_request', message: expect.stringContaining('dry'), errors: [{ field: 'dry', messages: [expect.any(String)] }] });
      const two = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs?dry=1&validate_only', body);
      expect([two.status, two.body.errors.map((e: { field: string }) => e.field)]).toEqual([400, ['dry', 'validate_only']]);
      expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(before);
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE inputs->>'email' = 'dry-run@example.com'`)).toBe(0);
      expect(executor.requests.some((r) => JSON.stringify(r.body ?? {}).includes('dry-run@example.com'))).toBe(false);
      // Without the query string the same request starts the run.
      expect((await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', body)).status).toBe(202);
    });

    it('refuses a body field the route does not define (a typo of version) with a 422 naming it: nothing is stored or sent', async () => {
      const before = await count(`SELECT count(*) AS n FROM outbox`);
      const body = { user_id: 'u1', verison: '1.0.0', inputs: { user_id: 'u1', email: 'typo@example.com' } };
      const typo = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', body);
      expect([typo.status, typo.body.code, typo.body.errors]).toEqual([422, 'validation_failed', [{ field: 'verison', messages: [expect.stringContaining('is not a field')] }]]);
      expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(before);
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE inputs->>'email' = 'typo@example.com'`)).toBe(0);
      // The fields it defines, all of them, are taken.
      const { verison: _typo, ...known } = body;
      expect((await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { ...known, product: undefined })).status).toBe(202);
    });

    it('an unknown workflow or version is a 404; a retired version a 409', async () => {
      expect((await as(RequesterId.Prana, 'POST', '/workflows/nope/runs', { user_id: 'u1' })).body).toMatchObject({ code: 'unknown_workflow' });
      const version = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', version: '^2', inputs: { user_id: 'u1', email: 'a@b.co' } });
      expect([version.status, version.body.code]).toEqual([404, 'unknown_version']);
      const retired = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', version: '1.0.0', inputs: { user_id: 'u1', email: 'a@b.co' } });
      expect([retired.status, retired.body.code]).toEqual([409, 'version_retired']);
    });

    it('a caller of a retired major is moved to the version that migrates its inputs, told so, and the executor gets the new inputs', async () => {
      for (const version of ['1.0.0', '^1']) {
        const res = await as(RequesterId.Prana, 'POST', '/workflows/notify/runs', { user_id: 'u1', version, inputs: { mail: 'old@example.com' } });
        expect(res.status).toBe(202);
        expect(res.body).toMatchObject({ workflow: 'notify', version: '2.0.0', warnings: ['no live version of notify matches ' + version + ': started 2.0.0 with the inputs migrated from 1.x'] });
        const start = await poll('the migrated start at the executor', async () =>
          executor.requests.find((r) => r.method === 'POST' && (r.body as { run_id: string }).run_id === res.body.run_id),
        );
        // A migrated key that renders to null (no `via`) is left out.
        expect((start.body as { version: string; inputs: unknown }).version).toBe('2.0.0');
        expect((start.body as { inputs: unknown }).inputs).toEqual({ email: 'old@example.com' });
        // The executor records the warning with the run (workflow.started in Bucket).
        expect((start.body as { warnings?: string[] }).warnings).toEqual(res.body.warnings);
      }
      // Old inputs are checked against 1.x's schema first (it is still registered): a 422 names the caller's own fields.
      const bad = await as(RequesterId.Prana, 'POST', '/workflows/notify/runs', { user_id: 'u1', version: '1.0.0', inputs: {} });
      expect([bad.status, bad.body.code, bad.body.errors?.[0]?.field]).toEqual([422, 'inputs_invalid', 'inputs.mail']);
      expect(bad.body.message).toBe('invalid inputs for notify@1.0.0: inputs.mail');
      const wrongType = await as(RequesterId.Prana, 'POST', '/workflows/notify/runs', { user_id: 'u1', version: '1.0.0', inputs: { mail: 42 } });
      expect([wrongType.status, wrongType.body.errors?.[0]?.field]).toEqual([422, 'inputs.mail']);
      // No migration from a major that never existed.
      expect((await as(RequesterId.Prana, 'POST', '/workflows/notify/runs', { user_id: 'u1', version: '^3', inputs: {} })).body.code).toBe('unknown_version');
    });

    it('a disabled workflow is a 409 workflow_disabled once the catalog says so', async () => {
      catalogEnabled = false;
      try {
        const res = await poll('the disabled catalog', async () => {
          const r = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'a@b.co' } });
          return r.status === 409 ? r : undefined;
        });
        expect(res.body.code).toBe('workflow_disabled');
      } finally {
        catalogEnabled = true;
      }
      await poll('enabled again', async () => {
        const r = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'a@b.co' } });
        return r.status === 202 || undefined;
      });
    });

    it('starting runs is its own operation: anonymous callers may submit tasks but not start workflows', async () => {
      const res = await as('anonymous', 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'a@b.co' } });
      expect(res.status).toBe(401);
    });

    it('a caller narrowed to product A may not start a run for product B (403)', async () => {
      const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', product: 'b', inputs: { user_id: 'u1', email: 'a@b.co' } }, { products: ['a'] });
      expect([res.status, res.body.code]).toEqual([403, 'forbidden']);
    });

    it('a caller narrowed to one product that names none starts the run for that product, so it can read it back', async () => {
      const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'one@b.co' } }, { products: ['a'] });
      expect(res.status).toBe(202);
      const start = await poll('the start at the executor', async () =>
        executor.requests.find((r) => r.method === 'POST' && (r.body as { run_id?: string }).run_id === res.body.run_id),
      );
      expect(start.body).toMatchObject({ product: 'a' });
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE run_id = '${res.body.run_id}' AND product = 'a'`)).toBe(1);
    });

    it('a caller narrowed to several products must name one: a 422 naming product, nothing stored', async () => {
      const before = await count(`SELECT count(*) AS n FROM workflow_run_requests`);
      const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'two@b.co' } }, { products: ['a', 'b'] });
      expect([res.status, res.body.code, res.body.errors?.[0]?.field]).toEqual([422, 'validation_failed', 'product']);
      expect(res.body.errors[0].messages[0]).toMatch(/several products \(a, b\); name the one this is for/);
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests`)).toBe(before);
    });
  });

  describe('when the executor refuses or is down', () => {
    it('a start the executor refuses for good is dead-lettered and GET /runs/:id says refused', async () => {
      startAnswer = () => ({ status: 422, body: { code: 'validation_failed', message: 'refused' } });
      try {
        const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'r@b.co' } });
        expect(res.status).toBe(202);
        const view = await poll('the refusal recorded', async () => {
          const r = await as(RequesterId.Prana, 'GET', `/runs/${res.body.run_id}`);
          return r.body.delivery === 'refused' ? r.body : undefined;
        });
        expect(view).toMatchObject({ status: 'failed', error: { code: 'start_refused' } });
      } finally {
        startAnswer = (req) => ({ status: 202, body: { run_id: (req.body as { run_id: string }).run_id } });
      }
    });

    it('a start refused because an operator disabled the workflow records the executor\'s message, with the operator\'s reason', async () => {
      const long = 'x'.repeat(5000);
      const messages = ['workflow onboard is disabled (supplier outage, back at 14:00); no new runs start', `workflow onboard is disabled (${long}); no new runs start`];
      let n = 0;
      startAnswer = () => ({ status: 409, body: { code: 'workflow_disabled', message: messages[n++ % 2] } });
      try {
        const views = [];
        for (const email of ['d1@b.co', 'd2@b.co']) {
          const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email } });
          expect(res.status).toBe(202);
          views.push(
            await poll('the refusal recorded', async () => {
              const r = await as(RequesterId.Prana, 'GET', `/runs/${res.body.run_id}`);
              return r.body.delivery === 'refused' ? r.body : undefined;
            }),
          );
        }
        const reason = `workflow-executor answered 409 workflow_disabled: ${messages[0]}`;
        expect(views[0]).toMatchObject({ status: 'failed', reason, error: { code: 'start_refused', message: reason, retryable: false } });
        // A long message is cut, and nothing says how Core asked (route, batch position) or how its relay judged it.
        expect(views[1].reason).toBe(`workflow-executor answered 409 workflow_disabled: workflow onboard is disabled (${long.slice(0, 1000 - 'workflow onboard is disabled ('.length)}…`);
        for (const view of views) expect(view.reason).not.toMatch(/api\/runs|event \d|non_retryable/);
      } finally {
        startAnswer = (req) => ({ status: 202, body: { run_id: (req.body as { run_id: string }).run_id } });
      }
    });

    it('with the executor unreachable a start is still accepted (queued) and readable from Core', async () => {
      startAnswer = () => ({ status: 503, body: {} });
      try {
        const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'q@b.co' } });
        expect(res.status).toBe(202);
        const view = await as(RequesterId.Prana, 'GET', `/runs/${res.body.run_id}`);
        expect(view.status).toBe(200);
        expect(view.body).toMatchObject({ run_id: res.body.run_id, status: 'pending', delivery: 'queued' });
      } finally {
        startAnswer = (req) => ({ status: 202, body: { run_id: (req.body as { run_id: string }).run_id } });
      }
    });

    it('reads pass the caller’s products on to the executor in the token', async () => {
      const runId = randomUUID();
      await as(RequesterId.Prana, 'GET', `/runs/${runId}`, undefined, { products: ['shop'] });
      const read = executor.requests.find((r) => r.path === `/api/runs/${runId}`)!;
      const token = String(read.headers.authorization).replace('Bearer ', '');
      expect(decodeJwt(token)).toMatchObject({ sub: 'bhiv_core', products: ['shop'] });
    });
  });

  describe('POST /runs/:id/cancel for a run the executor does not have yet', () => {
    const received = new Set<string>();
    const ok = (req: RecordedRequest) => {
      received.add((req.body as { run_id: string }).run_id);
      return { status: 202, body: { run_id: (req.body as { run_id: string }).run_id } };
    };
    const start = (email: string, claims?: { products?: string[] }) =>
      as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: 'u1', product: 'a', inputs: { user_id: 'u1', email } }, claims);
    const startsAtExecutor = (runId: string) => executor.requests.filter((r) => r.method === 'POST' && r.path === '/api/runs' && (r.body as { run_id: string }).run_id === runId);

    beforeEach(() => {
      startAnswer = ok;
      // The executor knows only the runs it received (as the real one: 404 run_not_found before that).
      cancelAnswer = (runId) =>
        received.has(runId) ? { status: 202, body: { run_id: runId, status: 'running' } } : { status: 404, body: { code: 'run_not_found', message: `no run ${runId}` } };
    });
    afterEach(() => {
      startAnswer = ok;
      cancelAnswer = (runId) => ({ status: 202, body: { run_id: runId, status: 'running' } });
      executor.down = false;
    });

    it('a start still in the outbox is withdrawn: cancelled at once, audited, never started, and a second cancel is a 409', async () => {
      const relay = core.app.get(OutboxRelay);
      await relay.stop();
      let runs: string[] = [];
      try {
        runs = [(await start('w1@b.co')).body.run_id, (await start('w2@b.co')).body.run_id];
        // One cancel is answered 404 by the executor, the other finds it down: either way Core's record decides.
        const first = await as(RequesterId.Prana, 'POST', `/runs/${runs[0]}/cancel`);
        executor.down = true;
        const second = await as(RequesterId.Prana, 'POST', `/runs/${runs[1]}/cancel`);
        executor.down = false;
        for (const [i, res] of [first, second].entries()) {
          expect(res.status).toBe(202);
          expect(res.body).toMatchObject({ run_id: runs[i], status: 'cancelled', delivery: 'cancelled', reason: `cancelled by ${RequesterId.Prana} before the executor received it` });
          expect(res.body.completed_at).toEqual(expect.any(String));
        }
        expect(await count(`SELECT count(*) AS n FROM outbox WHERE topic = 'workflow-executor.run-start' AND message_key IN ('${runs.join("','")}')`)).toBe(0);
        expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE delivery = 'cancelled' AND run_id IN ('${runs.join("','")}')`)).toBe(2);
        const view = await as(RequesterId.Prana, 'GET', `/runs/${runs[0]}`);
        expect(view.body).toMatchObject({ status: 'cancelled', delivery: 'cancelled' });
        const again = await as(RequesterId.Prana, 'POST', `/runs/${runs[0]}/cancel`);
        expect([again.status, again.body.code, again.body.message]).toEqual([409, 'run_not_cancellable', `run ${runs[0]} already ended cancelled`]);
        // Another product's caller cannot see it, so cannot cancel it.
        const other = await as(RequesterId.Prana, 'POST', `/runs/${runs[1]}/cancel`, undefined, { products: ['b'] });
        expect(other.status).toBe(404);
      } finally {
        relay.start();
      }
      // The audit entries reach Bucket; the starts never reach the executor.
      for (const runId of runs) {
        const entry = await poll('the cancel in Bucket', async () =>
          bucket.requests.map((r) => (r.body as { event_data?: Record<string, unknown> }).event_data).find((e) => e?.event_type === 'run_cancelled_before_start' && e.run_id === runId),
        );
        expect(entry).toMatchObject({ workflow: 'onboard', version: '1.2.0', actor: RequesterId.Prana, user_id: 'u1', product: 'a' });
      }
      await poll('the outbox drained', async () => (await count(`SELECT count(*) AS n FROM outbox WHERE status = 'pending'`)) === 0 || undefined);
      for (const runId of runs) expect(startsAtExecutor(runId)).toEqual([]);
    });

    it('GET /runs lists the runs that ended in Core (cancelled before the start) among the executor\'s, filtered and paged; queued starts are not listed', async () => {
      const relay = core.app.get(OutboxRelay);
      await relay.stop();
      const user = `lister-${randomUUID().slice(0, 8)}`;
      const theirs = (status: string, created_at: string): string => {
        const run_id = randomUUID();
        executorRuns.push({ run_id, workflow: 'onboard', version: '1.2.0', status, user_id: user, product: 'a', created_at });
        return run_id;
      };
      const ours: string[] = [];
      try {
        // The executor's runs before, between and after Core's own, so the two interleave.
        theirs('completed', '2020-01-01T00:00:00.000Z');
        for (const email of ['l1@b.co', 'l2@b.co', 'l3@b.co']) {
          theirs('running', new Date(Date.now() - 1).toISOString());
          const res = await as(RequesterId.Prana, 'POST', '/workflows/onboard/runs', { user_id: user, product: 'a', inputs: { user_id: user, email } });
          ours.push(res.body.run_id);
        }
        const newest = theirs('cancelled', '2099-01-01T00:00:00.000Z');
        expect((await as(RequesterId.Prana, 'POST', `/runs/${ours[1]}/cancel`)).body).toMatchObject({ status: 'cancelled', delivery: 'cancelled' });

        const all = await as(RequesterId.Prana, 'GET', `/runs?user_id=${user}`);
        expect(all.status).toBe(200);
        expect(all.body.next_cursor).toBeNull();
        const listed = all.body.runs as { run_id: string; status: string; created_at: string }[];
        expect(listed).toHaveLength(6);
        expect(listed.find((r) => r.run_id === ours[1])).toMatchObject({ status: 'cancelled', delivery: 'cancelled', workflow: 'onboard', user_id: user });
        // The two starts still queued are not listed: each would move to the executor's side, under the executor's
        // own created_at, once delivered (a paging reader would see it twice or not at all). GET /runs/:id has them.
        expect(listed.filter((r) => ours.includes(r.run_id)).map((r) => r.run_id)).toEqual([ours[1]]);
        expect((await as(RequesterId.Prana, 'GET', `/runs/${ours[0]}`)).body).toMatchObject({ status: 'pending', delivery: 'queued' });
        expect(listed.map((r) => r.created_at)).toEqual(listed.map((r) => r.created_at).sort().reverse());

        // Page by page, every size: the same runs in the same order, none twice, none left out.
        for (const limit of [1, 2, 3, 5]) {
          const paged: string[] = [];
          let cursor: string | null = null;
          do {
            const page = await as(RequesterId.Prana, 'GET', `/runs?user_id=${user}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
            expect(page.status).toBe(200);
            expect(page.body.runs.length).toBeLessThanOrEqual(limit);
            paged.push(...page.body.runs.map((r: { run_id: string }) => r.run_id));
            cursor = page.body.next_cursor;
          } while (cursor);
          expect(paged).toEqual(listed.map((r) => r.run_id));
        }

        // Filters apply to Core's runs too: the status, and the caller's products.
        const cancelled = await as(RequesterId.Prana, 'GET', `/runs?user_id=${user}&status=cancelled`);
        expect(cancelled.body.runs.map((r: { run_id: string }) => r.run_id)).toEqual([newest, ours[1]]);
        const running = await as(RequesterId.Prana, 'GET', `/runs?user_id=${user}&status=running`);
        expect(running.body.runs.every((r: { run_id: string }) => !ours.includes(r.run_id))).toBe(true);
        expect((await as(RequesterId.Prana, 'GET', `/runs?user_id=${user}`, undefined, { products: ['b'] })).body).toEqual({ runs: [], next_cursor: null });
        expect((await as(RequesterId.Prana, 'GET', `/runs?user_id=${user}&product=a`, undefined, { products: ['a'] })).body.runs).toHaveLength(6);
        expect((await as(RequesterId.Prana, 'GET', `/runs?user_id=${user}&status=pending`)).body.runs.every((r: { run_id: string }) => !ours.includes(r.run_id))).toBe(true);
        // A cursor this API did not give out is a 422 naming it, never a 500 from PostgreSQL (2024-02-30, not a time).
        const position = (text: string): string => Buffer.from(`${text}|${randomUUID()}`).toString('base64url');
        for (const cursor of ['x.y.z', `-.${position('2024-02-30 00:00:00+00')}`, `-.${position('1')}`, position('2024-02-30 00:00:00+00')]) {
          const bad = await as(RequesterId.Prana, 'GET', `/runs?cursor=${cursor}`);
          expect([cursor, bad.status, bad.body.errors?.[0]?.field]).toEqual([cursor, 422, 'cursor']);
        }
      } finally {
        relay.start();
      }
    });

    it('a start being handed over when the cancel comes is followed by the cancel once the executor has it', async () => {
      const gate = deferred();
      startAnswer = async (req) => {
        await gate.promise;
        return ok(req);
      };
      const runId = (await start('h1@b.co')).body.run_id as string;
      await poll('the start in flight', async () => startsAtExecutor(runId).length > 0 || undefined);
      const res = await as(RequesterId.Prana, 'POST', `/runs/${runId}/cancel`);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ run_id: runId, status: 'pending', delivery: 'queued' });
      expect(executor.requests.filter((r) => r.path === `/api/runs/${runId}/cancel`)).toHaveLength(1);
      gate.resolve();
      const followed = await poll('the cancel made at the executor', async () => {
        const sent = executor.requests.filter((r) => r.path === `/api/runs/${runId}/cancel`);
        return sent.length >= 2 && received.has(runId) ? sent.at(-1) : undefined;
      });
      expect(followed.body).toEqual({ actor: RequesterId.Prana });
      await poll('the cancel message settled', async () =>
        (await count(`SELECT count(*) AS n FROM outbox WHERE topic = 'workflow-executor.run-cancel' AND message_key = '${runId}' AND status = 'delivered'`)) === 1 || undefined,
      );
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE run_id = '${runId}' AND delivery = 'delivered'`)).toBe(1);
    });
  });

  describe('POST /handle_task with a rule that names a workflow', () => {
    it('a rule naming a workflow the catalog lacks records the task run_refused, with why, and starts nothing', async () => {
      const res = await as('anonymous', 'POST', '/handle_task', { input: 'onboard asha at asha@example.com', user_id: 'asha' });
      // The shipped rules start onboard-learner, which this stand-in catalog does not have.
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ decision: 'workflow', status: 'run_refused' });
      const task = await as('anonymous', 'GET', `/tasks/${res.body.task_id}`);
      expect(task.body).toMatchObject({ status: 'run_refused', workflow: 'onboard-learner', run_id: null, agent_note: expect.stringMatching(/^workflow onboard-learner not started: unknown_workflow: /) });
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE user_id = 'asha'`)).toBe(0);
    });
  });
});
