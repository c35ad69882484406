/**
 * `pancha` against the real stack (Core + executor + Bucket + Karma from dist/, fresh databases, free ports): what
 * an operator does at 3 a.m. — list, show, disable (new runs refused with 409, the CLI says so), enable, reload a
 * changed directory (a new version registers; an invalid file is refused and the old version keeps serving), and
 * find, inspect and cancel runs. Every call goes through the CLI binary with a token minted from the stack's keys.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RequesterId } from '@pancha/contracts';
import { type RunningStack, startStack } from '@pancha/stack';
import { freePort, httpJson, poll, queryRows, testKeysAt, testServerUrl } from '@pancha/testing';
import { json, pancha, REPO_ROOT } from './testing/run-cli';

jest.setTimeout(300_000);

describe('pancha against a running stack', () => {
  let stack: RunningStack;
  let workflowsDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    workflowsDir = mkdtempSync(path.join(tmpdir(), 'pancha-e2e-workflows-'));
    cpSync(path.join(REPO_ROOT, 'workflows'), workflowsDir, { recursive: true });
    const services = ['karma', 'bucket', 'core', 'workflow-executor'] as const;
    const ports = Object.fromEntries(await Promise.all(services.map(async (s) => [s, await freePort()] as const)));
    stack = await startStack({
      rootDir: REPO_ROOT,
      dataDir: mkdtempSync(path.join(tmpdir(), 'pancha-e2e-data-')),
      databaseUrl: testServerUrl(),
      databasePrefix: `pancha_${randomBytes(3).toString('hex')}_`,
      dropDatabasesOnStop: true,
      ports,
      logDir: mkdtempSync(path.join(tmpdir(), 'pancha-e2e-logs-')),
      env: { LOG_LEVEL: 'warn', NATS_URL: '', WORKFLOW_CATALOG_REFRESH_MS: '200' },
      // No file watching: the test drives reload itself (`pancha workflows reload` must be what registers the new version).
      serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: workflowsDir, WORKFLOW_HTTP_ALLOWED_HOSTS: '127.0.0.1', WORKFLOWS_WATCH: 'false' } },
    });
    env = { PANCHA_URL: stack.urls.core, PANCHA_KEYS_DIR: stack.keysDir };
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const keys = () => testKeysAt(stack.keysDir);
  const startRun = async (workflow: string, inputs: Record<string, unknown>) =>
    httpJson('POST', `${stack.urls.core}/workflows/${workflow}/runs`, { user_id: 'u1', inputs }, await keys().mint(RequesterId.Operator, 'core'));

  it('workflows list and show: the shipped workflows with their versions', async () => {
    const list = await pancha(['workflows', 'list'], { env });
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^onboard-learner\s+enabled\s+1\.0\.0\s+1\.0\.0\s+0\s+/m);
    expect(list.stdout).toMatch(/^plain-summary\s+enabled\s+/m);
    const show = await pancha(['workflows', 'show', 'plain-summary', '--json'], { env });
    expect(json(show)).toMatchObject({ name: 'plain-summary', enabled: true, default_version: '1.0.0', versions: [{ version: '1.0.0', present: true, live_runs: 0 }] });
    const steps = await pancha(['workflows', 'show', 'plain-summary@1.0.0'], { env });
    expect(steps.stdout).toMatch(/follow_up\s+action\s+task/);
  });

  it('disable refuses new runs at once (409), enable lets them start again; both are recorded on the workflow', async () => {
    const off = await pancha(['workflows', 'disable', 'plain-summary', '--reason', 'e2e: provider outage'], { env });
    expect(off.status).toBe(0);
    expect(off.stdout).toContain('plain-summary disabled: new runs are refused');
    const refused = await startRun('plain-summary', { user_id: 'u1', reference: 'TASK-1' });
    expect(refused.status).toBe(409);
    const shown = json(await pancha(['workflows', 'show', 'plain-summary', '--json'], { env }));
    // The setting names who wrote it on the executor: Core (bhiv_core) forwards the change, not yet the operator.
    expect(shown).toMatchObject({ enabled: false, setting: { enabled: false, reason: 'e2e: provider outage' } });

    expect((await pancha(['workflows', 'enable', 'plain-summary'], { env })).status).toBe(0);
    const started = await poll('a run to start again after enable', async () => {
      const res = await startRun('plain-summary', { user_id: 'u1', reference: 'TASK-2' });
      return res.status === 202 ? res : undefined;
    }, 30_000);
    expect(started.body.run_id).toEqual(expect.any(String));
  });

  it('runs list, show and cancel find and act on runs', async () => {
    // Core's catalog converges within a refresh after an enable (a refresh already in flight can briefly restore
    // the disabled state it fetched), so the start is retried until accepted.
    const res = await poll('a run of plain-summary to start', async () => {
      const r = await startRun('plain-summary', { user_id: 'u1', reference: 'TASK-3' });
      return r.status === 202 ? r : undefined;
    }, 30_000);
    const runId: string = res.body.run_id;
    const listed = await poll('the run to be listed as completed', async () => {
      const r = await pancha(['runs', 'list', '--workflow', 'plain-summary', '--status', 'completed', '--since', '1h', '--json'], { env });
      return json(r).runs.some((x: { run_id: string }) => x.run_id === runId) ? r : undefined;
    }, 120_000);
    expect(listed.status).toBe(0);
    const table = await pancha(['runs', 'list', '--workflow', 'plain-summary'], { env });
    expect(table.stdout).toMatch(new RegExp(`^${runId}\\s+plain-summary@1\\.0\\.0\\s+completed`, 'm'));
    const show = await pancha(['runs', 'show', runId], { env });
    expect(show.status).toBe(0);
    expect(show.stdout).toMatch(/follow_up\s+action\s+completed\s+1/);
    // a finished run cannot be cancelled: Core's refusal reaches the user with exit 1
    const cancel = await pancha(['runs', 'cancel', runId], { env });
    expect(cancel.status).toBe(1);
    expect(cancel.stderr).toMatch(/^pancha: Core answered 409 /);
  });

  it('reload registers a new version from the directory, and refuses an invalid file while the old version serves', async () => {
    const file = path.join(workflowsDir, 'plain-summary.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^version: 1\.0\.0$/m, 'version: 1.1.0'));
    const reloaded = await pancha(['workflows', 'reload'], { env });
    expect(reloaded.status).toBe(0);
    expect(reloaded.stdout).toContain('registered plain-summary@1.1.0');
    expect(json(await pancha(['workflows', 'show', 'plain-summary', '--json'], { env })).default_version).toBe('1.1.0');

    writeFileSync(file, readFileSync(file, 'utf8').replace(/^version: 1\.1\.0$/m, 'version: 1.2.0').replace('action: task', 'action: fax'));
    const refused = await pancha(['workflows', 'reload'], { env });
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/refused plain-summary\.yaml/);
    expect(refused.stdout).toMatch(/plain-summary\.yaml:\d+:\d+: error unknown_action /);
    const after = json(await pancha(['workflows', 'show', 'plain-summary', '--json'], { env }));
    expect(after.versions.map((v: { version: string }) => v.version).sort()).toEqual(['1.0.0', '1.1.0']);
    // and the same file fails validation offline, with the same finding, before anyone reloads it
    const offline = await pancha(['workflows', 'validate', file]);
    expect(offline.status).toBe(1);
    expect(offline.stdout).toMatch(/plain-summary\.yaml:\d+:\d+: error unknown_action /);
  });

  it('tasks submit stores a file of tasks in Core once: the workflow task starts its run, and a rerun stores nothing twice', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'pancha-e2e-tasks-')), 'tasks.jsonl');
    const tag = `e2e-${randomBytes(3).toString('hex')}`;
    writeFileSync(file, ['{"input":"good morning","user_id":"cli-1"}', '{"input":"onboard cli-2 at cli-2@example.com","user_id":"cli-2"}', '{"input":"hello","user_id":"cli-3"}'].join('\n'));
    const first = await pancha(['--json', 'tasks', 'submit', file, '--batch', '2', '--tag', tag], { env });
    expect(first.status).toBe(0);
    const answers = json(first).tasks as { line: number; task_id: string; status: string; run_id?: string; replayed: boolean }[];
    expect(answers.map((t) => [t.line, t.status, t.replayed])).toEqual([[1, 'decided', false], [2, 'run_started', false], [3, 'decided', false]]);
    const stored = () => queryRows<{ task_id: string }>(stack.databaseUrls.core, `SELECT task_id FROM tasks WHERE tags @> $1::jsonb ORDER BY created_at`, [JSON.stringify([tag])]);
    expect((await stored()).map((r) => r.task_id).sort()).toEqual(answers.map((t) => t.task_id).sort());
    const run = await poll('the onboarding run to complete', async () => {
      const res = await pancha(['--json', 'runs', 'show', answers[1].run_id ?? ''], { env });
      return res.status === 0 && json(res).status === 'completed' ? json(res) : undefined;
    });
    expect(run.inputs).toMatchObject({ user_id: 'cli-2', email: 'cli-2@example.com' });

    const again = await pancha(['tasks', 'submit', file, '--batch', '2', '--tag', tag], { env });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('3 tasks in 2 requests; 3 stored by an earlier run of this command');
    expect(await stored()).toHaveLength(3);
  });
});
