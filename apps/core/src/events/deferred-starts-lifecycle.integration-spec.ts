// A workflow's versions change state under Core's mirror (WORKFLOWS.md: deprecated, later retired; a file replaced
// or deleted): Core's catalog shows the executor's flags after a refresh, a start only takes a version present in the
// directory and not retired, and a deferred start whose version was retired or removed before it was due becomes a
// `workflow_disabled` skip naming it (docs/events.md). The real app on PostgreSQL; a stand-in executor serves the
// catalog the test sets.
import { EXECUTOR_RUN_STARTS_ROUTE, RequesterId, type WorkflowCatalog } from '@pancha/contracts';
import { httpJson, poll, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { WorkflowCatalogService } from '../workflows/workflow-catalog.service';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(90_000);

const TEXT = `
name: later
version: 1.0.0
inputs: { type: object, required: [n], properties: { n: { type: number } } }
security: { actions: [task] }
triggers:
  - name: quiet
    event: later.changed
    key: event.data.item
    # Never quiet on its own during the suite: a test makes the start due (its due_at) when it wants it made.
    debounce: { quiet: 1h }
    inputs: { n: "{{ event.data.n }}" }
steps: [{ id: a, action: task, with: { title: x } }]
`;

function manifest(version: string, ...flags: string[]): WorkflowManifest {
  const parsed = parseManifest(`${TEXT.replace('version: 1.0.0', `version: ${version}`)}${flags.join('\n')}\n`);
  if (!parsed.manifest) throw new Error(JSON.stringify(parsed.findings));
  return parsed.manifest;
}

type Entry = WorkflowCatalog['workflows'][number];
const version = (m: WorkflowManifest, present = true) => ({ version: m.version, present, deprecated: m.deprecated, retired: m.retired, manifest: m as unknown as Record<string, unknown> });

// What the executor's registry says of `later` now; each test moves it (a reload there), then has Core fetch it.
let later: Entry = { name: 'later', enabled: true, default_version: '1.0.0', versions: [version(manifest('1.0.0'))] };
let revision = 0;
const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') return { status: 200, body: { revision: `r${revision}`, workflows: [later] } satisfies WorkflowCatalog };
  if (req.method === 'POST' && req.path === '/api/runs') return { status: 202, body: { run_id: (req.body as { run_id: string }).run_id } };
  return { status: 404, body: { code: 'not_found' } };
});
executor.speaksBatch(EXECUTOR_RUN_STARTS_ROUTE, '/api/runs');
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('version lifecycle under Core: catalog, starts and deferred starts', () => {
  let core: ServiceWithDatabase;

  const as = async (method: string, route: string, body?: unknown) => httpJson(method, `${core.url}${route}`, body, await core.keys.mint(RequesterId.Operator, 'core'));
  const catalog = () => core.app.get(WorkflowCatalogService);
  const setLater = async (next: Entry) => {
    later = next;
    revision++;
    await catalog().sync();
  };
  const startLater = (version?: string) => as('POST', '/workflows/later/runs', { user_id: 'u1', inputs: { n: 1 }, ...(version ? { version } : {}) });
  const decisionOf = async (eventId: string) => (await as('GET', `/events/${eventId}`)).body.decisions.find((d: { workflow: string }) => d.workflow === 'later');
  const made = (eventId: string) =>
    poll(`the deferred start of ${eventId} made`, async () => {
      const decision = await decisionOf(eventId);
      return decision.outcome === 'deferred' ? undefined : decision;
    });
  const makeDue = (eventId: string) => core.dataSource.query(`UPDATE event_deferred_starts SET due_at = now() WHERE event_id = $1`, [eventId]);
  /** An event whose start waits (debounced), pinned to the version whose trigger matched it. */
  const deferred = async (eventId: string, item: string, pinned: string) => {
    const res = await as('POST', '/events', { id: eventId, type: 'later.changed', data: { item, n: 1 } });
    expect(res.body.deferred).toEqual([expect.objectContaining({ workflow: 'later', reason: 'debounced' })]);
    expect(await decisionOf(eventId)).toMatchObject({ outcome: 'deferred', version: pinned });
  };

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_lifecycle', executor, bucket, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', EVENTS_DEFERRED_POLL_MS: '50' } });
  });

  afterAll(() => core?.close());

  it('a version deprecated after registration: the catalog shows it after a refresh, and a start is made with a warning', async () => {
    expect(catalog().get('later')?.versions.get('1.0.0')).toMatchObject({ deprecated: false, retired: false });
    await setLater({ ...later, versions: [version(manifest('1.0.0', 'deprecated: true'))] });
    expect(catalog().get('later')?.versions.get('1.0.0')).toMatchObject({ deprecated: true, retired: false });
    const res = await startLater();
    expect(res).toMatchObject({ status: 202, body: { version: '1.0.0', warnings: ['later@1.0.0 is deprecated'] } });
  });

  it("the executor's show naming other flags than the mirror's has Core fetch the catalog again", async () => {
    expect(catalog().differs({ name: 'later', enabled: true, default_version: '1.0.0', versions: [{ version: '1.0.0', present: true, deprecated: true, retired: false }] })).toBe(false);
    expect(catalog().differs({ name: 'later', enabled: true, default_version: '1.0.0', versions: [{ version: '1.0.0', present: true, deprecated: true, retired: true }] })).toBe(true);
    expect(catalog().differs({ name: 'later', enabled: true, default_version: '1.0.0', versions: [{ version: '1.0.0', present: false, deprecated: true, retired: false }] })).toBe(true);
  });

  it('the file replaced by 1.1.0: 1.0.0 takes no new run, by exact version or range; its deferred start runs on 1.1.0', async () => {
    await deferred('life-1', 'a', '1.0.0');
    await setLater({ ...later, default_version: '1.1.0', versions: [version(manifest('1.0.0', 'deprecated: true'), false), version(manifest('1.1.0'))] });
    const exact = await startLater('1.0.0');
    expect([exact.status, exact.body.code, exact.body.message]).toEqual([409, 'version_retired', 'later@1.0.0 is retired: no longer in the workflows directory']);
    // A range matching only the replaced version is the exact version's 409, naming it (it was a 404 "no version
    // … matches", as if the version had never existed).
    const range = await startLater('~1.0.0');
    expect([range.status, range.body.code, range.body.message]).toEqual([
      409,
      'version_retired',
      'every version of later matching ~1.0.0 is retired: 1.0.0 (no longer in the workflows directory); no new runs start (start a version in the workflows directory, or put the file back)',
    ]);
    expect((await startLater('^1.0.0')).body).toMatchObject({ version: '1.1.0' });
    // A deploy of the same major does not drop the starts waiting on the version it replaced: they run on the newest
    // present version of that major.
    await makeDue('life-1');
    expect(await made('life-1')).toMatchObject({ outcome: 'run', version: '1.1.0', run_id: expect.any(String) });
    expect(await core.dataSource.query(`SELECT 1 FROM event_deferred_starts WHERE event_id = 'life-1'`)).toEqual([]);
  });

  it('a version retired by a reload before its start was due: the start is skipped, naming it', async () => {
    await deferred('life-2', 'b', '1.1.0');
    await setLater({ ...later, default_version: null, versions: [version(manifest('1.0.0', 'deprecated: true'), false), version(manifest('1.1.0', 'retired: true'))] });
    expect((await startLater('1.1.0')).body).toMatchObject({ code: 'version_retired', message: 'later@1.1.0 is retired' });
    await makeDue('life-2');
    expect(await made('life-2')).toMatchObject({ outcome: 'skipped', reason: 'workflow_disabled', detail: 'later@1.1.0 is retired' });
  });

  it("the workflow's file deleted before the start was due: no default, no start, and the deferred start is skipped", async () => {
    await setLater({ ...later, default_version: '1.2.0', versions: [version(manifest('1.0.0', 'deprecated: true'), false), version(manifest('1.1.0', 'retired: true'), false), version(manifest('1.2.0'))] });
    await deferred('life-3', 'c', '1.2.0');
    await setLater({ ...later, default_version: null, versions: later.versions.map((v) => ({ ...v, present: false })) });
    expect(catalog().get('later')?.default_version).toBeNull();
    expect((await startLater()).body).toMatchObject({ code: 'unknown_version' });
    expect((await startLater('1.2.0')).body).toMatchObject({ code: 'version_retired' });
    await makeDue('life-3');
    expect(await made('life-3')).toMatchObject({ outcome: 'skipped', reason: 'workflow_disabled', detail: expect.stringContaining('later@1.2.0 is retired') });
    // Nothing reached the executor for the skipped starts.
    const started = executor.requests.filter((r) => r.method === 'POST' && r.path === '/api/runs').map((r) => (r.body as { version: string }).version);
    // Two API starts (1.0.0, then ^1.0.0 on 1.1.0) and life-1's deferred start on 1.1.0.
    expect(started.sort()).toEqual(['1.0.0', '1.1.0', '1.1.0']);
  });
});
