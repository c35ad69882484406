/**
 * The registry on PostgreSQL: name@version registers once (recorded in Bucket with its content hash), is
 * immutable (other content under the same version is refused and the registered one keeps serving), and an
 * invalid manifest is refused with findings that name layer, code, file and line.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { RequesterId } from '@pancha/contracts';
import { eventually, httpJson, poll } from '@pancha/testing';
import { chooseStartVersion } from '@pancha/workflow-engine';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const V1 = `
name: greet
version: 1.0.0
inputs: { type: object, required: [who], properties: { who: { type: string } } }
security: { actions: [task] }
steps:
  - { id: hello, action: task, with: { title: "hello {{ inputs.who }}" } }
`;

describe('workflow registry', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: { 'greet.yaml': V1 } });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('registers each name@version once and records it in Bucket with its content hash', async () => {
    const [row] = await h.dataSource.query(`SELECT content_hash, file FROM workflow_definitions WHERE name = 'greet' AND version = '1.0.0'`);
    expect(row).toMatchObject({ content_hash: expect.stringMatching(/^[0-9a-f]{64}$/), file: 'greet.yaml' });
    const again = await h.call('POST', '/api/workflows/reload');
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ registered: [], unchanged: 1 });
    // The Bucket event travels through the executor's outbox after the registration commits: wait for its delivery.
    await eventually(() => {
      const registered = h.bucket.requests
        .map((r) => (r.body as { event_data?: Record<string, unknown> }).event_data)
        .filter((e) => e?.event_type === 'workflow.registered' && e.workflow === 'greet');
      expect(registered).toEqual([expect.objectContaining({ version: '1.0.0', content_hash: row.content_hash })]);
    });
  });

  it('refuses other content under a registered version; the registered one keeps serving', async () => {
    h.writeWorkflow('greet.yaml', V1.replace('hello {{', 'HELLO {{'));
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.body.refused).toEqual([
      expect.objectContaining({ file: 'greet.yaml', findings: expect.arrayContaining([expect.objectContaining({ code: 'version_immutable', layer: 'compatibility' })]) }),
    ]);
    const definition = await h.call('GET', '/api/workflows/greet/versions/1.0.0');
    expect(JSON.stringify(definition.body)).toContain('hello {{ inputs.who }}');
    h.writeWorkflow('greet.yaml', V1);
  });

  it('a new version registers beside the old one and becomes the default; both stay startable by version', async () => {
    h.writeWorkflow('greet.yaml', V1.replace('version: 1.0.0', 'version: 1.1.0').replace('hello {{', 'hi {{'));
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.body.registered).toEqual([expect.objectContaining({ workflow: 'greet', version: '1.1.0' })]);
    const show = await h.call('GET', '/api/workflows/greet');
    expect(show.body).toMatchObject({ default_version: '1.1.0' });
    expect(show.body.versions.map((v: { version: string; present: boolean }) => [v.version, v.present])).toEqual([
      ['1.1.0', true],
      ['1.0.0', false],
    ]);
    // The old version's file is gone: Core starts nothing new on it (chooseStartVersion), but a start Core accepted
    // before the deploy and delivers after it still runs on the version it was accepted for.
    const old = await h.startRun('greet', '1.0.0', { who: 'old' });
    expect((await h.run(old)).version).toBe('1.0.0');
  });

  it('an invalid manifest is refused with findings naming layer, code, file and line', async () => {
    h.writeWorkflow('broken.yaml', 'name: broken\nversion: 1.0.0\nsecurity: { actions: [task] }\nsteps:\n  - id: a\n    action: nope\n');
    const reload = await h.call('POST', '/api/workflows/reload');
    const refused = (reload.body.refused as { file: string; findings: { code: string; layer: string; line: number; file: string }[] }[]).find((r) => r.file === 'broken.yaml');
    expect(refused?.findings).toEqual(expect.arrayContaining([expect.objectContaining({ layer: 'security', file: 'broken.yaml', line: 6 })]));
    const show = await h.call('GET', '/api/workflows/broken');
    expect(show.status).toBe(404);
  });
});

describe('hot reload, drain and enable/disable', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: { 'greet.yaml': V1 }, env: { WORKFLOWS_WATCH: 'true', WORKFLOWS_WATCH_DEBOUNCE_MS: '50' } });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('picks up a changed file without a reload request: the new version registers beside the old and becomes the default', async () => {
    h.writeWorkflow('greet.yaml', V1.replace('version: 1.0.0', 'version: 1.2.0'));
    const show = await poll('the watcher to register 1.2.0', async () => {
      const res = await h.call('GET', '/api/workflows/greet');
      return res.body.default_version === '1.2.0' ? res : undefined;
    });
    expect(show.body.versions.map((v: { version: string; present: boolean }) => [v.version, v.present])).toEqual([
      ['1.2.0', true],
      ['1.0.0', false],
    ]);
    const findings = await h.call('GET', '/api/workflows/findings');
    expect(findings.body).toMatchObject({ trigger: 'watch', registered: [expect.objectContaining({ workflow: 'greet', version: '1.2.0' })] });
  });

  it('an invalid edit never replaces the valid version: it keeps serving and the findings say why', async () => {
    h.writeWorkflow('greet.yaml', V1.replace('version: 1.0.0', 'version: 1.3.0').replace('action: task', 'action: nope'));
    const report = await h.call('POST', '/api/workflows/reload');
    expect(report.body.refused).toEqual([expect.objectContaining({ file: 'greet.yaml', findings: expect.arrayContaining([expect.objectContaining({ layer: 'security', line: expect.any(Number) })]) })]);
    expect(report.body.kept).toEqual([{ file: 'greet.yaml', workflow: 'greet', version: '1.2.0' }]);
    const show = await h.call('GET', '/api/workflows/greet');
    expect(show.body).toMatchObject({ default_version: '1.2.0' });
    expect(show.body.versions.find((v: { version: string }) => v.version === '1.2.0')).toMatchObject({ present: true });
    const catalog = await h.call('GET', '/api/workflows/catalog');
    expect(catalog.body.workflows.find((w: { name: string }) => w.name === 'greet')).toMatchObject({ default_version: '1.2.0' });
    // Unparseable YAML is the same: the previous version keeps serving.
    h.writeWorkflow('greet.yaml', 'name: greet\nversion: [unclosed\n');
    const again = await h.call('POST', '/api/workflows/reload');
    expect(again.body.kept).toEqual([{ file: 'greet.yaml', workflow: 'greet', version: '1.2.0' }]);
    expect((await h.call('GET', '/api/workflows/greet')).body).toMatchObject({ default_version: '1.2.0' });
  });

  it('runs pinned to an older version finish on it (drain), counted per version as live runs until they end', async () => {
    h.writeWorkflow('greet.yaml', V1.replace('version: 1.0.0', 'version: 1.4.0').replace('steps:', 'steps:\n  - { id: gate, approval: { signal: go } }'));
    await h.call('POST', '/api/workflows/reload');
    const held = await h.startRun('greet', '1.4.0', { who: 'held' });
    // 1.4.0's file is replaced: its run in flight drains on it, counted as live until it ends.
    h.writeWorkflow('greet.yaml', V1.replace('version: 1.0.0', 'version: 1.5.0'));
    await h.call('POST', '/api/workflows/reload');
    const show = await h.call('GET', '/api/workflows/greet');
    const live = Object.fromEntries(show.body.versions.map((v: { version: string; live_runs: number }) => [v.version, v.live_runs]));
    expect(live).toMatchObject({ '1.5.0': 0, '1.4.0': 1, '1.0.0': 0 });
    expect(show.body).toMatchObject({ default_version: '1.5.0' });
    await h.call('POST', `/api/runs/${held}/signals/go`, { payload: {} });
    await eventually(async () => expect((await h.run(held)).status).toBe('completed'));
    expect((await h.run(held)).version).toBe('1.4.0');
  });

  const settingEvents = (type: string) =>
    h.bucket.requests.map((r) => (r.body as { event_data?: Record<string, unknown> }).event_data).filter((e) => e?.event_type === type);

  it('disable is stored, recorded in Bucket with the person Core acted for, survives a restart, and enable restores it', async () => {
    // Core's POST /workflows/greet/disable by a signed-in operator: Core forwards who asked (actorOf).
    const disabled = await h.call('POST', '/api/workflows/greet/disable', { reason: 'night incident', actor: 'user:asha' }, RequesterId.Core);
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ enabled: false, setting: { enabled: false, updated_by: 'user:asha', reason: 'night incident' } });
    const [row] = await h.dataSource.query(`SELECT enabled, updated_by, reason FROM workflow_settings WHERE name = 'greet'`);
    expect(row).toEqual({ enabled: false, updated_by: 'user:asha', reason: 'night incident' });
    await eventually(() => {
      expect(settingEvents('workflow.disabled')).toEqual([expect.objectContaining({ workflow: 'greet', actor: 'user:asha', reason: 'night incident' })]);
    });

    const replica = await startExecutorHarness({
      workflows: {},
      shared: { db: h.db, keys: h.keys, workflowsDir: h.workflowsDir, bucket: h.bucket, karma: h.karma },
    });
    try {
      expect((await replica.call('GET', '/api/workflows/greet')).body).toMatchObject({ enabled: false });
      const catalog = await replica.call('GET', '/api/workflows/catalog');
      // The catalog carries the reason, so Core's 409 for a start can say why (whichever replica Core asks).
      expect(catalog.body.workflows.find((w: { name: string }) => w.name === 'greet')).toMatchObject({ enabled: false, reason: 'night incident' });
    } finally {
      await replica.close();
    }
    // Core acting for nobody else (its own call, or an older Core that sends no actor): Core is the actor.
    const enabled = await h.call('POST', '/api/workflows/greet/enable', {}, RequesterId.Core);
    expect(enabled.body).toMatchObject({ enabled: true, setting: { updated_by: RequesterId.Core } });
    await eventually(() => {
      expect(settingEvents('workflow.enabled')).toEqual([expect.objectContaining({ workflow: 'greet', actor: RequesterId.Core })]);
    });
  });

  it('live_runs counts only the caller’s products’ runs (no product-less ones when narrowed) in the list, the show and enable/disable', async () => {
    h.writeWorkflow('held.yaml', `
name: held
version: 1.0.0
security: { actions: [task] }
steps:
  - { id: gate, approval: { signal: go } }
`);
    await h.call('POST', '/api/workflows/reload');
    // Live (waiting at the gate): acme two, other one, none one.
    const runs: string[] = [];
    for (const product of ['acme', 'acme', 'other', undefined]) runs.push(await h.startRun('held', '1.0.0', {}, product ? { product } : {}));
    for (const id of runs) await eventually(async () => expect((await h.run(id)).status).toBe('running'));
    const as = async (method: string, route: string, products?: string[], body?: unknown) => {
      const res = await httpJson(method, `${h.url}${route}`, body, await h.keys.mint(RequesterId.Core, 'workflow-executor', products ? { products } : undefined));
      expect(res.status).toBe(200);
      return res.body as { workflows?: { name: string; versions: { version: string; live_runs: number }[] }[]; versions?: { version: string; live_runs: number }[] };
    };
    const liveOf = async (products?: string[]) => {
      const list = (await as('GET', '/api/workflows', products)).workflows?.find((w) => w.name === 'held');
      const show = await as('GET', '/api/workflows/held', products);
      const off = await as('POST', '/api/workflows/held/disable', products, { reason: 'scope test' });
      const on = await as('POST', '/api/workflows/held/enable', products, {});
      return [list, show, off, on].map((summary) => summary?.versions?.find((v) => v.version === '1.0.0')?.live_runs);
    };
    expect(await liveOf(['acme'])).toEqual([2, 2, 2, 2]);
    expect(await liveOf(['other'])).toEqual([1, 1, 1, 1]);
    expect(await liveOf(['acme', 'other'])).toEqual([3, 3, 3, 3]);
    // A caller granted no products (as an anonymous one through Core) sees no live run.
    expect(await liveOf([])).toEqual([0, 0, 0, 0]);
    // Unrestricted (Core's own token, no products claim): every live run, the product-less one included.
    expect(await liveOf()).toEqual([4, 4, 4, 4]);
    for (const id of runs) await h.call('POST', `/api/runs/${id}/cancel`, {});
  });
});

/**
 * WORKFLOWS.md: a version may be marked `deprecated: true` and later `retired: true`. The flags are a registered
 * version's state, not its content: a file that differs from the registered version only in them changes that state
 * on reload (stored, in the catalog Core mirrors, recorded in Bucket); any other change stays `version_immutable`.
 */
describe('lifecycle flags of a registered version', () => {
  const LIFE = V1.replace('name: greet', 'name: life');
  const at = (version: string, ...flags: string[]) => `${LIFE.replace('version: 1.0.0', `version: ${version}`)}${flags.join('\n')}\n`;
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: { 'life.yaml': at('1.0.0') } });
    h.writeWorkflow('life.yaml', at('1.1.0'));
    expect((await h.call('POST', '/api/workflows/reload')).body.registered).toEqual([expect.objectContaining({ workflow: 'life', version: '1.1.0' })]);
  });

  afterAll(async () => {
    await h?.close();
  });

  const show = async () => (await h.call('GET', '/api/workflows/life')).body as { default_version: string | null; versions: { version: string; present: boolean; deprecated: boolean; retired: boolean; content_hash: string }[] };
  const flagsOf = (versions: { version: string; present: boolean; deprecated: boolean; retired: boolean }[]) =>
    versions.map((v) => [v.version, v.present, v.deprecated, v.retired]);
  /** GET …/catalog as Core's mirror asks for it: with the ETag of its last copy. */
  const catalogEntry = async (etag?: string) => {
    const res = await fetch(`${h.url}/api/workflows/catalog`, { headers: { authorization: `Bearer ${await h.token()}`, ...(etag ? { 'if-none-match': etag } : {}) } });
    const text = await res.text();
    return { status: res.status, etag: res.headers.get('etag') ?? undefined, body: text ? JSON.parse(text) : undefined };
  };
  const definitionEvents = (type: string) =>
    h.bucket.requests.map((r) => (r.body as { event_data?: Record<string, unknown> }).event_data).filter((e) => e?.event_type === type && e.workflow === 'life');
  const start = (version: string) =>
    h.call('POST', '/api/runs', { run_id: randomUUID(), workflow: 'life', version, inputs: { who: 'x' }, user_id: 'u1', trace_id: randomBytes(16).toString('hex') });

  it('deprecated: true added later: the version is deprecated, in the catalog too (new ETag), and recorded in Bucket', async () => {
    const before = await catalogEntry();
    expect((await catalogEntry(before.etag)).status).toBe(304);
    h.writeWorkflow('life.yaml', at('1.1.0', 'deprecated: true'));
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.body).toMatchObject({
      refused: [],
      registered: [],
      lifecycle: [{ workflow: 'life', version: '1.1.0', file: 'life.yaml', deprecated: true, retired: false, was: { deprecated: false, retired: false } }],
    });
    expect(reload.body.findings.map((f: { code: string }) => f.code)).not.toContain('version_immutable');
    const shown = await show();
    expect(shown.default_version).toBe('1.1.0');
    expect(flagsOf(shown.versions)).toEqual([
      ['1.1.0', true, true, false],
      ['1.0.0', false, false, false],
    ]);
    // Core's mirror asks with its ETag: the old one no longer matches, and the new catalog carries the flag.
    const after = await catalogEntry(before.etag);
    expect(after.status).toBe(200);
    expect(after.body.workflows.find((w: { name: string }) => w.name === 'life').versions.find((v: { version: string }) => v.version === '1.1.0')).toMatchObject({
      deprecated: true,
      retired: false,
      manifest: expect.objectContaining({ deprecated: true }),
    });
    // A deprecated version still starts.
    expect((await start('1.1.0')).status).toBe(202);
    await eventually(() => expect(definitionEvents('workflow.deprecated')).toEqual([expect.objectContaining({ version: '1.1.0', file: 'life.yaml' })]));
    // The same file again changes nothing.
    expect((await h.call('POST', '/api/workflows/reload')).body).toMatchObject({ lifecycle: [], refused: [] });
  });

  it('retired: true added later: no new run starts on it, the default moves off it, and Bucket records it', async () => {
    h.writeWorkflow('life.yaml', at('1.1.0', 'deprecated: true', 'retired: true'));
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.body).toMatchObject({ refused: [], lifecycle: [expect.objectContaining({ version: '1.1.0', deprecated: true, retired: true, was: { deprecated: true, retired: false } })] });
    const shown = await show();
    // The only version in the directory is retired: no default (1.0.0 is no longer in the directory either).
    expect(shown.default_version).toBeNull();
    expect(flagsOf(shown.versions)).toEqual([
      ['1.1.0', true, true, true],
      ['1.0.0', false, false, false],
    ]);
    const refused = await start('1.1.0');
    expect(refused).toMatchObject({ status: 409, body: { code: 'version_retired' } });
    await eventually(() => expect(definitionEvents('workflow.retired')).toEqual([expect.objectContaining({ version: '1.1.0' })]));
    const [row] = await h.dataSource.query(`SELECT source, manifest->>'retired' AS retired FROM workflow_definitions WHERE name = 'life' AND version = '1.1.0'`);
    expect(row).toEqual({ source: at('1.1.0', 'deprecated: true', 'retired: true'), retired: 'true' });
  });

  it('any other change to the registered version is still version_immutable, flags or not, and the state stays', async () => {
    h.writeWorkflow('life.yaml', at('1.1.0', 'retired: false').replace('hello {{', 'HELLO {{'));
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.body.lifecycle).toEqual([]);
    expect(reload.body.refused).toEqual([expect.objectContaining({ file: 'life.yaml', findings: expect.arrayContaining([expect.objectContaining({ code: 'version_immutable' })]) })]);
    expect(flagsOf((await show()).versions)[0]).toEqual(['1.1.0', true, true, true]);
    h.writeWorkflow('life.yaml', at('1.1.0', 'deprecated: true', 'retired: true'));
    expect((await h.call('POST', '/api/workflows/reload')).body).toMatchObject({ refused: [], lifecycle: [], unchanged: 1 });
  });

  it('the state survives a restart, and a definition stored before the change (no definition_hash) still takes a flag change', async () => {
    // As stored by the registry before the flags could change: the manifest column has no definition_hash.
    await h.dataSource.query(`UPDATE workflow_definitions SET manifest = manifest - 'definition_hash' WHERE name = 'life'`);
    const replica = await startExecutorHarness({ workflows: {}, shared: { db: h.db, keys: h.keys, workflowsDir: h.workflowsDir, bucket: h.bucket, karma: h.karma } });
    try {
      expect((await replica.call('GET', '/api/workflows/findings')).body).toMatchObject({ refused: [], lifecycle: [] });
      const shown = (await replica.call('GET', '/api/workflows/life')).body;
      expect(flagsOf(shown.versions)).toEqual([
        ['1.1.0', true, true, true],
        ['1.0.0', false, false, false],
      ]);
      // Un-retired by the file (the operator's choice): starts again.
      h.writeWorkflow('life.yaml', at('1.1.0', 'deprecated: true'));
      const reload = await replica.call('POST', '/api/workflows/reload');
      expect(reload.body).toMatchObject({ refused: [], lifecycle: [expect.objectContaining({ version: '1.1.0', retired: false, was: { deprecated: true, retired: true } })] });
      // The first replica, reading the same file, takes the state the other stored (recorded once, by that one).
      const first = await h.call('POST', '/api/workflows/reload');
      expect(first.body).toMatchObject({ refused: [], lifecycle: [expect.objectContaining({ version: '1.1.0', retired: false })] });
      expect((await start('1.1.0')).status).toBe(202);
      await eventually(() => expect(definitionEvents('workflow.unretired')).toHaveLength(1));
    } finally {
      await replica.close();
    }
  });
});

describe('a removed file: no new runs of its versions, but in-flight runs finish and start their children', () => {
  const CHILD = `
name: kid
version: 1.0.0
security: { actions: [task] }
steps:
  - { id: work, action: task, with: { title: "child" } }
`;
  const PARENT = `
name: mom
version: 1.0.0
security: { actions: [task] }
steps:
  - { id: gate, approval: { signal: go } }
  - { id: call, workflow: "kid@^1" }
`;
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: { 'kid.yaml': CHILD, 'mom.yaml': PARENT } });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('kid@1.0.0 leaves the directory: no exact or range start chooses it; a waiting parent pinned to it still runs it', async () => {
    const parent = await h.startRun('mom', '1.0.0', {});
    await eventually(async () => expect((await h.run(parent)).status).toBe('running'));
    expect((await h.run(parent)).pins).toEqual({ 'kid@^1': '1.0.0' });
    rmSync(path.join(h.workflowsDir, 'kid.yaml'));
    await h.call('POST', '/api/workflows/reload');
    const kid = (await h.call('GET', '/api/workflows/catalog')).body.workflows.find((w: { name: string }) => w.name === 'kid');
    expect(kid).toMatchObject({ default_version: null, versions: [expect.objectContaining({ version: '1.0.0', present: false })] });
    // What Core's start (and its event router and deferred starts) choose from this catalog: nothing.
    expect(chooseStartVersion(kid, 'kid', '1.0.0')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(kid, 'kid', '^1.0.0')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(kid, 'kid')).toMatchObject({ ok: false, reason: 'unknown_version' });
    await h.call('POST', `/api/runs/${parent}/signals/go`, { payload: {} });
    await eventually(async () => expect((await h.run(parent)).status).toBe('completed'));
    expect((await h.run(parent)).children).toEqual([expect.objectContaining({ workflow: 'kid', version: '1.0.0', status: 'completed' })]);
  });

  it('a child rolled back (1.1.0 out, 1.0.0 back in the directory): a new parent pins the version present, not the higher one gone', async () => {
    h.writeWorkflow('kid.yaml', CHILD.replace('version: 1.0.0', 'version: 1.1.0'));
    await h.call('POST', '/api/workflows/reload');
    expect((await h.run(await h.startRun('mom', '1.0.0', {}))).pins).toEqual({ 'kid@^1': '1.1.0' });
    h.writeWorkflow('kid.yaml', CHILD);
    await h.call('POST', '/api/workflows/reload');
    expect((await h.run(await h.startRun('mom', '1.0.0', {}))).pins).toEqual({ 'kid@^1': '1.0.0' });
    // With no version of it in the directory at all, a reference resolves as it did before (any registered one).
    rmSync(path.join(h.workflowsDir, 'kid.yaml'));
    await h.call('POST', '/api/workflows/reload');
    expect((await h.run(await h.startRun('mom', '1.0.0', {}))).pins).toEqual({ 'kid@^1': '1.1.0' });
  });
});
