/**
 * Hot reload on the built stack (dist/): a manifest edited on disk while runs of the old version are in flight. The
 * executor picks the change up by itself (no reload request), new runs get the new version, and runs of both
 * versions complete on the version they started with. Then an invalid edit: refused with findings, and the
 * previous version keeps serving new runs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RequesterId } from '@pancha/contracts';
import { loadKeyStore, TokenIssuer } from '@pancha/governance';
import { type RunningStack, startStack } from '@pancha/stack';
import { freePort, httpJson, poll, queryRows, testServerUrl } from '@pancha/testing';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../../..');

const manifest = (version: string, action = 'task') => `
name: hot
version: ${version}
inputs: { type: object, required: [n], properties: { n: { type: integer } } }
security: { actions: [task] }
steps:
  - id: gate
    approval: { signal: go }
  - id: record
    action: ${action}
    with: { title: "hot ${version} run {{ inputs.n }}" }
output: { version: "${version}" }
`;

describe('hot reload of a manifest while its runs are in flight', () => {
  let stack: RunningStack;
  let operator: TokenIssuer;
  let workflowsDir: string;
  const core = async (method: string, route: string, body?: unknown) => httpJson(method, `${stack.urls.core}${route}`, body, await operator.tokenFor('core'));

  beforeAll(async () => {
    workflowsDir = mkdtempSync(path.join(tmpdir(), 'hot-wf-'));
    writeFileSync(path.join(workflowsDir, 'hot.yaml'), manifest('1.0.0'));
    const services = ['karma', 'bucket', 'core', 'workflow-executor'] as const;
    const ports = Object.fromEntries(await Promise.all(services.map(async (s) => [s, await freePort()] as const)));
    stack = await startStack({
      rootDir: ROOT,
      dataDir: mkdtempSync(path.join(tmpdir(), 'hot-data-')),
      databaseUrl: testServerUrl(),
      databasePrefix: `hot_${randomBytes(3).toString('hex')}_`,
      dropDatabasesOnStop: true,
      ports,
      logDir: mkdtempSync(path.join(tmpdir(), 'hot-logs-')),
      env: { LOG_LEVEL: 'warn', NATS_URL: '', WORKFLOW_CATALOG_REFRESH_MS: '200' },
      serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: workflowsDir, WORKFLOWS_WATCH: 'true', WORKFLOWS_WATCH_DEBOUNCE_MS: '200' } },
    });
    operator = new TokenIssuer(loadKeyStore(RequesterId.Operator, { PANCHA_KEYS_DIR: stack.keysDir }));
    await poll('Core to know hot@1.0.0', async () => {
      const res = await core('GET', '/workflows/hot');
      return res.status === 200 && res.body.default_version === '1.0.0' ? true : undefined;
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function start(n: number): Promise<{ run_id: string; version: string }> {
    const res = await poll(`start ${n}`, async () => {
      const r = await core('POST', '/workflows/hot/runs', { inputs: { n }, user_id: `u${n}` });
      return r.status === 503 ? undefined : r;
    }, 60_000);
    if (res.status !== 202) throw new Error(`start ${n}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async function runsOf(ids: string[]): Promise<{ run_id: string; version: string; status: string; output: { version: string } | null }[]> {
    return queryRows(stack.databaseUrls['workflow-executor'], `SELECT run_id, version, status, output FROM workflow_runs WHERE run_id = ANY($1::uuid[]) ORDER BY created_at`, [ids]);
  }

  async function waitingAtGate(ids: string[]): Promise<void> {
    await poll('the runs to wait at their gate', async () => {
      const rows = await queryRows<{ n: number }>(
        stack.databaseUrls['workflow-executor'],
        `SELECT count(*)::int AS n FROM workflow_steps WHERE run_id = ANY($1::uuid[]) AND step_id = 'gate' AND status = 'running'`,
        [ids],
      );
      return rows[0].n === ids.length ? true : undefined;
    }, 120_000);
  }

  it('runs of the old and the new version both complete on their own version', async () => {
    const old = await Promise.all([1, 2, 3].map((n) => start(n)));
    expect(old.map((r) => r.version)).toEqual(['1.0.0', '1.0.0', '1.0.0']);
    await waitingAtGate(old.map((r) => r.run_id));

    writeFileSync(path.join(workflowsDir, 'hot.yaml'), manifest('1.1.0'));
    await poll('the watcher to register 1.1.0 and Core to see it', async () => {
      const res = await core('GET', '/workflows/hot');
      return res.body.default_version === '1.1.0' ? res : undefined;
    }, 120_000);
    const fresh = await Promise.all([4, 5, 6].map((n) => start(n)));
    expect(fresh.map((r) => r.version)).toEqual(['1.1.0', '1.1.0', '1.1.0']);
    const ids = [...old, ...fresh].map((r) => r.run_id);
    await waitingAtGate(ids);

    const show = await core('GET', '/workflows/hot');
    const live = Object.fromEntries(show.body.versions.map((v: { version: string; live_runs: number }) => [v.version, v.live_runs]));
    expect(live).toEqual({ '1.1.0': 3, '1.0.0': 3 });

    for (const id of ids) expect((await core('POST', `/runs/${id}/signals/go`, { payload: { by: 'e2e' } })).status).toBe(202);
    await poll('every run to complete', async () => ((await runsOf(ids)).every((r) => r.status === 'completed') ? true : undefined), 120_000);
    const rows = await runsOf(ids);
    expect(rows.map((r) => [r.version, r.output?.version])).toEqual([
      ['1.0.0', '1.0.0'], ['1.0.0', '1.0.0'], ['1.0.0', '1.0.0'],
      ['1.1.0', '1.1.0'], ['1.1.0', '1.1.0'], ['1.1.0', '1.1.0'],
    ]);
    const titles = await queryRows<{ title: string }>(stack.databaseUrls['workflow-executor'], `SELECT input ->> 'title' AS title FROM workflow_steps WHERE run_id = ANY($1::uuid[]) AND step_id = 'record' ORDER BY input ->> 'title'`, [ids]);
    expect(titles.map((t) => t.title)).toEqual(['hot 1.0.0 run 1', 'hot 1.0.0 run 2', 'hot 1.0.0 run 3', 'hot 1.1.0 run 4', 'hot 1.1.0 run 5', 'hot 1.1.0 run 6']);
  });

  it('an invalid edit is refused with findings and the previous version keeps serving', async () => {
    writeFileSync(path.join(workflowsDir, 'hot.yaml'), manifest('1.2.0', 'no-such-action'));
    const findings = await poll('the watcher to refuse the edit', async () => {
      const res = await core('GET', '/workflows/findings');
      return res.body.refused?.some((r: { file: string }) => r.file === 'hot.yaml') ? res.body : undefined;
    }, 120_000);
    expect(findings).toMatchObject({ trigger: 'watch', kept: [{ file: 'hot.yaml', workflow: 'hot', version: '1.1.0' }] });
    expect(findings.findings).toEqual(expect.arrayContaining([expect.objectContaining({ file: 'hot.yaml', line: expect.any(Number) })]));
    expect((await core('GET', '/workflows/hot')).body).toMatchObject({ default_version: '1.1.0' });

    const run = await start(7);
    expect(run.version).toBe('1.1.0');
    await waitingAtGate([run.run_id]);
    await core('POST', `/runs/${run.run_id}/signals/go`, { payload: {} });
    await poll('the run to complete on 1.1.0', async () => {
      const [row] = await runsOf([run.run_id]);
      return row?.status === 'completed' ? row : undefined;
    }, 120_000);
  });
});
