/**
 * Plugins in a running executor: the example plugin runs in a workflow; a plugin that throws at load, one that hangs,
 * one that allocates without bound and one that reaches for the executor's modules or keys each fail their step
 * with a clear code while the executor stays up and a run beside them completes.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type PluginView, PluginErrorCode } from '@pancha/contracts';
import { eventually, httpJson, StandInServer } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { PluginRegistry } from './plugin-registry.service';

jest.setTimeout(120_000);

const REPO = path.resolve(__dirname, '../../../../..');
const slack = new StandInServer(() => ({ status: 200, body: 'ok' }));
const dir = mkdtempSync(path.join(tmpdir(), 'wf-plugins-'));
const pluginsDir = path.join(dir, 'plugins');

// Generous step timeouts: a worker thread takes up to a second to start on a loaded CI machine.
const one = (name: string, action: string, extra = '', timeout = '20s') => `
name: ${name}
version: 1.0.0
security: { actions: [${action}] }
retry: { max_attempts: 1 }
steps:
  - { id: go, action: ${action}, timeout: ${timeout}, with: { ${extra} } }
`;

describe('action plugins in the executor', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    await slack.start();
    mkdirSync(path.join(pluginsDir, 'slack-webhook'), { recursive: true });
    copyFileSync(path.join(REPO, 'plugins/slack-webhook/index.js'), path.join(pluginsDir, 'slack-webhook/index.js'));
    writeFileSync(path.join(pluginsDir, 'explodes.js'), `throw new Error('cannot start: missing config');`);
    writeFileSync(path.join(pluginsDir, 'hangs.js'), `module.exports = { name: 'hangs', version: '1.0.0', execute: () => { for (;;) {} } };`);
    writeFileSync(path.join(pluginsDir, 'hogs.js'), `module.exports = { name: 'hogs', version: '1.0.0', execute: () => { const k = []; for (;;) k.push(new Array(1e5).fill({ x: Math.random() })); } };`);
    writeFileSync(
      path.join(pluginsDir, 'sneaky.js'),
      `module.exports = { name: 'sneaky', version: '1.0.0', input: { type: 'object', properties: { how: { enum: ['module', 'keys'] } } }, execute: (ctx, input) =>
        input.how === 'module' ? require(${JSON.stringify(path.join(REPO, 'apps/workflow-executor/src/config/env.validation'))})
          : require('node:fs').readdirSync(process.argv.length ? ${JSON.stringify('__KEYS__')} : '') };`,
    );
    const secretsFile = path.join(dir, 'secrets.yaml');
    writeFileSync(secretsFile, `SLACK_WEBHOOK_URL: ${slack.url}/services/T/B/secret\n`);
    h = await startExecutorHarness({
      workflows: {
        'notify.yaml': one('notify', 'slack-webhook', 'text: "deploy {{ inputs.v }} done"'),
        'explodes.yaml': one('explodes', 'explodes'),
        'hangs.yaml': one('hangs', 'hangs', '', '3s'),
        'hogs.yaml': one('hogs', 'hogs'),
        'sneaky.yaml': one('sneaky', 'sneaky', 'how: "{{ inputs.how }}"'),
        'plain.yaml': `
name: plain
version: 1.0.0
security: { actions: [task] }
steps:
  - { id: t, action: task, with: { title: "still here" } }
`,
      },
      env: { PLUGINS_DIR: pluginsDir, WORKFLOW_SECRETS_FILE: secretsFile, PLUGIN_MAX_MEMORY_MB: '32' },
    });
    // The keys directory exists only now: point the sneaky plugin at it (a loaded version keeps its code: reload).
    writeFileSync(path.join(pluginsDir, 'sneaky.js'), (await import('node:fs')).readFileSync(path.join(pluginsDir, 'sneaky.js'), 'utf8').replace('__KEYS__', h.keys.dir));
    expect((await h.call('POST', '/api/plugins/reload')).status).toBe(200);
  });

  afterAll(async () => {
    await h?.close();
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET /api/plugins lists the built-ins and every plugin, a broken one as failed with why', async () => {
    const res = await h.call('GET', '/api/plugins');
    const byName = Object.fromEntries((res.body.plugins as PluginView[]).map((p) => [p.name, p]));
    for (const builtin of ['task', 'email', 'whatsapp', 'ai', 'http']) expect(byName[builtin]).toMatchObject({ source: 'builtin', status: 'loaded' });
    expect(byName['slack-webhook']).toMatchObject({ version: '1.0.0', source: 'directory', status: 'loaded', secrets: ['SLACK_WEBHOOK_URL'], file: path.join('slack-webhook', 'index.js') });
    expect(byName.explodes).toMatchObject({ status: 'failed', error: expect.stringContaining('cannot start: missing config'), file: 'explodes.js' });
    const detail = await h.call('GET', '/api/plugins/slack-webhook');
    expect(detail.body).toMatchObject({ input_schema: expect.objectContaining({ required: ['text'] }), output_schema: expect.any(Object) });
    expect((await h.call('GET', '/api/plugins/nope')).body).toMatchObject({ code: PluginErrorCode.UnknownPlugin });
  });

  it('the example plugin runs in a workflow: one POST to the webhook with the step’s idempotency key, output stored', async () => {
    const runId = await h.startRun('notify', '1.0.0', { v: '1.4.2' });
    const run = await eventually(async () => {
      const r = await h.run(runId);
      expect({ status: r.status, error: r.steps[0]?.error }).toEqual({ status: 'completed', error: null });
      return r;
    });
    expect(run.steps[0]).toMatchObject({ output: { status: 200, delivered: true } });
    const posts = slack.requests.filter((r) => r.path === '/services/T/B/secret');
    expect(posts).toEqual([expect.objectContaining({ body: { text: 'deploy 1.4.2 done' } })]);
    expect(posts[0].headers['idempotency-key']).toBe(`${runId}:go`);
  });

  it.each([
    ['explodes', {}, PluginErrorCode.LoadFailed],
    ['hangs', {}, 'adapter_timeout'],
    ['hogs', {}, PluginErrorCode.OutOfMemory],
    ['sneaky', { how: 'module' }, PluginErrorCode.ForbiddenAccess],
    ['sneaky', { how: 'keys' }, PluginErrorCode.ForbiddenAccess],
  ])('%s (%j) fails its step with %s; the executor stays up and a plain run beside it completes', async (workflow, inputs, code) => {
    const bad = await h.startRun(workflow, '1.0.0', inputs);
    const plain = await h.startRun('plain', '1.0.0', {});
    await eventually(async () => expect((await h.run(plain)).status).toBe('completed'));
    const run = await eventually(
      async () => {
        const r = await h.run(bad);
        expect(r.status).toBe('failed');
        return r;
      },
      { timeoutMs: 30_000 },
    );
    expect(run.steps[0]).toMatchObject({ status: 'failed', error: expect.objectContaining({ code }) });
    expect((await httpJson('GET', `${h.url}/healthz`)).status).toBe(200);
    // The hung or exhausted worker is gone (warm workers of other plugins stay parked).
    await eventually(() => expect(h.app.get(PluginRegistry).host.busyWorkers).toBe(0));
  });
});
