// Which answer a start gets when the versions it asks for cannot start (retired), how a start moved to a newer version by
// its migrations is checked, a disabled workflow's reason, and the query parameters of GET /runs and GET /runs/:run_id.
import { randomUUID } from 'node:crypto';
import { RequesterId, type WorkflowCatalog } from '@pancha/contracts';
import { httpJson, poll, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
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
// t-basic's only version is retired (its file still in the directory); t-dep's is deprecated and retired.
const T_BASIC = parsed(`name: t-basic\nversion: 1.0.0\nretired: true\n${STEPS}`);
const T_DEP = parsed(`name: t-dep\nversion: 1.4.0\ndeprecated: true\nretired: true\n${STEPS}`);
// notify 2.x renamed `mail` to `email`; its 1.x (retired, still registered) refused fields it did not define.
const NOTIFY_1 = parsed(`name: notify
version: 1.3.0
retired: true
inputs: { type: object, required: [mail], additionalProperties: false, properties: { mail: { type: string }, via: { type: string } } }
${STEPS}`);
const NOTIFY_2 = parsed(`name: notify
version: 2.0.0
inputs: { type: object, required: [email], properties: { email: { type: string }, channel: { type: string } } }
migrations:
  1.x: { email: "{{ inputs.mail }}", channel: "{{ inputs.?via.orValue(null) }}" }
${STEPS}`);
// relay 2.x migrates from a 1.x this executor never registered: only the new schema can check a start.
const RELAY_2 = parsed(`name: relay
version: 2.0.0
inputs: { type: object, required: [email], properties: { email: { type: string } } }
migrations:
  1.x: { email: "{{ inputs.mail }}" }
${STEPS}`);
const ONBOARD = parsed(`name: onboard\nversion: 1.0.0\ninputs: { type: object, properties: { email: { type: string } } }\n${STEPS}`);

const version = (m: WorkflowManifest, present = true) => ({
  version: m.version,
  present,
  deprecated: m.deprecated,
  retired: m.retired,
  manifest: m as unknown as Record<string, unknown>,
});

/** onboard's setting at the stand-in executor; `catalogReason` whether its catalog says the reason (a newer executor). */
const onboard = { enabled: true, reason: null as string | null, catalogReason: false };
let revision = 0;
const catalog = (): WorkflowCatalog => ({
  revision: `r${revision}`,
  workflows: [
    { name: 't-basic', enabled: true, default_version: null, versions: [version(T_BASIC)] },
    { name: 't-dep', enabled: true, default_version: null, versions: [version(T_DEP)] },
    { name: 'notify', enabled: true, default_version: '2.0.0', versions: [version(NOTIFY_2), version(NOTIFY_1, false)] },
    { name: 'relay', enabled: true, default_version: '2.0.0', versions: [version(RELAY_2)] },
    {
      name: 'onboard',
      enabled: onboard.enabled,
      ...(onboard.catalogReason ? { reason: onboard.reason } : {}),
      default_version: '1.0.0',
      versions: [version(ONBOARD)],
    },
  ],
});
const summary = () => ({
  name: 'onboard',
  enabled: onboard.enabled,
  default_version: '1.0.0',
  description: null,
  versions: [],
  setting: { enabled: onboard.enabled, updated_by: 'operator', updated_at: '2026-01-01T00:00:00.000Z', reason: onboard.reason },
});
const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') return { status: 200, body: catalog() };
  const toggle = /^\/api\/workflows\/onboard\/(enable|disable)$/.exec(req.path);
  if (req.method === 'POST' && toggle) {
    onboard.enabled = toggle[1] === 'enable';
    onboard.reason = (req.body as { reason?: string }).reason ?? null;
    revision++;
    return { status: 200, body: summary() };
  }
  if (req.method === 'GET' && req.path === '/api/runs') return { status: 200, body: { runs: [], next_cursor: null } };
  if (req.method === 'GET' && req.path.startsWith('/api/runs/')) return { status: 404, body: { code: 'run_not_found', message: 'no run' } };
  if (req.method === 'POST' && req.path === '/api/runs') return { status: 202, body: { run_id: (req.body as { run_id: string }).run_id } };
  return { status: 404, body: { code: 'not_found' } };
});
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('run starts: retired versions, migrations, a disabled workflow’s reason; GET /runs query parameters', () => {
  let core: ServiceWithDatabase;

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_run_versions', executor, bucket });
  });
  afterAll(() => core?.close());

  const as = async (who: RequesterId, method: string, route: string, body?: unknown) => httpJson(method, `${core.url}${route}`, body, await core.keys.mint(who, 'core'));
  const startRun = (workflow: string, body: Record<string, unknown>) => as(RequesterId.Prana, 'POST', `/workflows/${workflow}/runs`, { user_id: 'u1', ...body });
  const runsOf = async (user: string): Promise<number> =>
    Number((await core.dataSource.query(`SELECT count(*) AS n FROM workflow_run_requests WHERE user_id = $1`, [user]))[0].n);

  describe('a workflow whose matching versions are all retired', () => {
    it('is a 409 version_retired naming them, with no version, a range or the exact one; nothing is stored', async () => {
      for (const [workflow, asked, named] of [
        ['t-basic', undefined, '1.0.0'],
        ['t-basic', '^1', '1.0.0'],
        ['t-basic', '1.x', '1.0.0'],
        ['t-basic', '1.0.0', '1.0.0'],
        ['t-dep', undefined, '1.4.0'],
        ['t-dep', '~1.4', '1.4.0'],
      ] as const) {
        const res = await startRun(workflow, { user_id: 'retired-only', ...(asked ? { version: asked } : {}) });
        expect([workflow, asked, res.status, res.body.code]).toEqual([workflow, asked, 409, 'version_retired']);
        expect(res.body.message).toContain(`${named}`);
        expect(res.body.message).toMatch(/retired/);
        expect(res.body.message).not.toMatch(/is in the workflows directory|no version/);
      }
      expect(await runsOf('retired-only')).toBe(0);
    });

    it('a range no registered version matches stays a 404 unknown_version', async () => {
      for (const asked of ['^2', '0.x', '1.0.1']) {
        const res = await startRun('t-basic', { version: asked });
        expect([asked, res.status, res.body.code, res.body.message]).toEqual([asked, 404, 'unknown_version', `no version of t-basic matches ${asked}`]);
      }
    });
  });

  describe('a start moved to a newer version by its migrations', () => {
    it('is checked against the schema of the version asked for first: 422s name the caller’s own fields, and a field it refused is refused', async () => {
      for (const asked of ['1.3.0', '^1', '1.x']) {
        const wrongType = await startRun('notify', { version: asked, inputs: { mail: 42 } });
        expect([asked, wrongType.status, wrongType.body.code, wrongType.body.errors?.map((e: { field: string }) => e.field)]).toEqual([asked, 422, 'inputs_invalid', ['inputs.mail']]);
        expect(wrongType.body.message).toBe('invalid inputs for notify@1.3.0: inputs.mail');
        const missing = await startRun('notify', { version: asked, inputs: {} });
        expect([missing.status, missing.body.errors?.map((e: { field: string }) => e.field)]).toEqual([422, ['inputs.mail']]);
        // 1.x refused fields it did not define: the migration would have dropped it silently.
        const unknown = await startRun('notify', { version: asked, inputs: { mail: 'a@example.com', priority: 'high' } });
        expect([unknown.status, unknown.body.errors?.map((e: { field: string }) => e.field)]).toEqual([422, ['inputs.priority']]);
      }
      expect(await runsOf('u1')).toBe(0);
    });

    it('inputs the old version takes are migrated and then checked by the new version’s schema, as before', async () => {
      const res = await startRun('notify', { user_id: 'migrated', version: '^1', inputs: { mail: 'old@example.com', via: 'sms' } });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ version: '2.0.0', warnings: ['no live version of notify matches ^1: started 2.0.0 with the inputs migrated from 1.x'] });
      const [row] = await core.dataSource.query(`SELECT inputs FROM workflow_run_requests WHERE run_id = $1`, [res.body.run_id]);
      expect(row.inputs).toEqual({ email: 'old@example.com', channel: 'sms' });
    });

    it('when the old version is not registered, only the new schema checks the migrated inputs (today’s behaviour)', async () => {
      const res = await startRun('relay', { version: '1.0.0', inputs: { mail: 42 } });
      expect([res.status, res.body.errors?.map((e: { field: string }) => e.field)]).toEqual([422, ['inputs.email']]);
      expect((await startRun('relay', { version: '^1', inputs: { mail: 'ok@example.com', extra: 1 } })).status).toBe(202);
    });
  });

  describe('a disabled workflow', () => {
    afterEach(async () => {
      onboard.catalogReason = false;
      expect((await as(RequesterId.Operator, 'POST', '/workflows/onboard/enable', {})).status).toBe(200);
    });

    it('a start is a 409 carrying the reason of a disable made through this Core', async () => {
      expect((await as(RequesterId.Operator, 'POST', '/workflows/onboard/disable', { reason: 'supplier outage, back at 14:00' })).status).toBe(200);
      const res = await startRun('onboard', { inputs: {} });
      expect([res.status, res.body.code, res.body.message]).toEqual([409, 'workflow_disabled', 'workflow onboard is disabled (supplier outage, back at 14:00); no new runs start']);
    });

    it('a start is a 409 carrying the reason the catalog says (a disable made elsewhere)', async () => {
      onboard.catalogReason = true;
      onboard.enabled = false;
      onboard.reason = 'migrating the mail provider';
      revision++;
      const res = await poll('the disabled catalog', async () => {
        const r = await startRun('onboard', { inputs: {} });
        return r.status === 409 ? r : undefined;
      });
      expect([res.body.code, res.body.message]).toEqual(['workflow_disabled', 'workflow onboard is disabled (migrating the mail provider); no new runs start']);
    });

    it('without a reason the message is as before', async () => {
      expect((await as(RequesterId.Operator, 'POST', '/workflows/onboard/disable', {})).status).toBe(200);
      const res = await startRun('onboard', { inputs: {} });
      expect([res.status, res.body.message]).toEqual([409, 'workflow onboard is disabled']);
    });
  });

  describe('GET /runs and GET /runs/:run_id query parameters', () => {
    it('an unknown parameter of GET /runs is a 400 naming it (with a hint for a known mistake), not the unfiltered list', async () => {
      const res = await as(RequesterId.Prana, 'GET', '/runs?state=failed');
      expect([res.status, res.body.code, res.body.errors]).toEqual([
        400,
        'bad_request',
        [{ field: 'state', messages: ['is not a query parameter of GET /runs: the run status filter is status'] }],
      ]);
      expect(res.body.message).toMatch(/^unknown query parameter state: GET \/runs takes workflow, version, status/);
      const two = await as(RequesterId.Prana, 'GET', '/runs?status=failed&stauts=x&pagesize=3');
      expect([two.status, two.body.errors.map((e: { field: string }) => e.field)]).toEqual([400, ['stauts', 'pagesize']]);
    });

    it('every parameter the route documents is taken', async () => {
      const all =
        'workflow=onboard&version=1.0.0&status=failed&user_id=u1&product=acme&trace_id=' + 'a'.repeat(32) +
        '&since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z&include_children=true&cursor=&limit=5';
      const res = await as(RequesterId.Prana, 'GET', `/runs?${all}`);
      expect([res.status, res.body]).toEqual([200, { runs: [], next_cursor: null }]);
      const feed = await as(RequesterId.Prana, 'GET', '/runs?updated_since=2026-01-01T00:00:00Z&limit=5');
      expect(feed.status).toBe(200);
    });

    it('GET /runs/:run_id takes none', async () => {
      const res = await as(RequesterId.Prana, 'GET', `/runs/${randomUUID()}?include_steps=true`);
      expect([res.status, res.body.code, res.body.errors?.[0]?.field]).toEqual([400, 'bad_request', 'include_steps']);
      expect(res.body.message).toBe('unknown query parameter include_steps: GET /runs/:run_id takes none');
    });
  });
});
