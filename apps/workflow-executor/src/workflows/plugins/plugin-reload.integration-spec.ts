/**
 * Warm workers and hot reload of plugins in a running executor (PLUGINS_WATCH on): a plugin's second step runs on
 * the worker its first used; a changed plugin file is picked up without a restart (a run in flight finishes on the
 * version it started on, new runs get the new one); an invalid edit leaves the version serving and says why (log,
 * GET /api/plugins, the reload report); a new plugin dropped in lets a manifest naming it register.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunView } from '@pancha/contracts';
import { eventually } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { PluginRegistry } from './plugin-registry.service';

jest.setTimeout(120_000);

const dir = mkdtempSync(path.join(tmpdir(), 'wf-plugin-reload-'));
const pluginsDir = path.join(dir, 'plugins');
const counterFile = path.join(pluginsDir, 'counter.js');
const gate = path.join(dir, 'gate');

// Module state (n) lives as long as the worker; a gated attempt waits for a file (no clock in the test).
const counter = (version: string) => `const fs = require('node:fs');
let n = 0;
module.exports = { name: 'counter', version: '${version}', input: { type: 'object' }, execute: (ctx, input) => new Promise((resolve) => {
  const mine = ++n;
  const done = () => resolve({ version: '${version}', n: mine });
  if (!input.gate) return done();
  const timer = setInterval(() => { if (fs.existsSync(input.gate)) { clearInterval(timer); done(); } }, 20);
}) };`;

const manifest = (name: string, action: string, extra = '') => `
name: ${name}
version: 1.0.0
security: { actions: [${action}] }
retry: { max_attempts: 1 }
steps:
  - { id: go, action: ${action}, timeout: 30s, with: { ${extra} } }
`;

describe('plugin workers and hot reload', () => {
  let h: ExecutorHarness;
  const plugin = async (name: string) => (await h.call('GET', `/api/plugins/${name}`)).body;
  const finished = (runId: string): Promise<RunView> =>
    eventually(
      async () => {
        const r = await h.run(runId);
        expect(r.status).toMatch(/completed|failed/);
        return r;
      },
      { timeoutMs: 30_000 },
    );
  const run = async (workflow: string, inputs: Record<string, unknown> = {}) => finished(await h.startRun(workflow, '1.0.0', inputs));

  beforeAll(async () => {
    mkdirSync(pluginsDir, { recursive: true });
    writeFileSync(counterFile, counter('1.0.0'));
    h = await startExecutorHarness({
      workflows: { 'count.yaml': manifest('count', 'counter'), 'count-gated.yaml': manifest('count-gated', 'counter', 'gate: "{{ inputs.gate }}"') },
      env: { PLUGINS_DIR: pluginsDir, PLUGINS_WATCH: 'true', WORKFLOWS_WATCH_DEBOUNCE_MS: '50', PLUGIN_POOL_SIZE: '2' },
    });
  });

  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the next step on the warm worker: no new worker, the plugin’s module state carries over', async () => {
    expect((await run('count')).steps[0]).toMatchObject({ status: 'completed', output: { version: '1.0.0', n: 1 } });
    expect((await run('count')).steps[0]).toMatchObject({ status: 'completed', output: { version: '1.0.0', n: 2 } });
    // The worker that loaded the plugin at start served both attempts.
    expect((await plugin('counter')).workers).toMatchObject({ started: 1, reused: 2, alive: 1, warm: 1, busy: 0 });
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain('pancha_plugin_worker_starts_total{plugin="counter"} 1');
    expect(metrics).toContain('pancha_plugin_workers{plugin="counter",state="warm"} 1');
  });

  it('a changed file reloads: the run in flight finishes on 1.0.0, new runs get 2.0.0; an invalid edit keeps 2.0.0 serving', async () => {
    const inFlight = await h.startRun('count-gated', '1.0.0', { gate });
    await eventually(async () => expect((await plugin('counter')).workers.busy).toBe(1));

    writeFileSync(counterFile, counter('2.0.0'));
    await eventually(async () => expect(await plugin('counter')).toMatchObject({ version: '2.0.0', status: 'loaded', reload_error: null }), { timeoutMs: 30_000 });
    expect((await run('count')).steps[0]).toMatchObject({ status: 'completed', output: { version: '2.0.0', n: 1 } });

    writeFileSync(gate, 'open');
    expect((await finished(inFlight)).steps[0]).toMatchObject({ status: 'completed', output: { version: '1.0.0', n: 3 } });
    // The old version's pool drained: its worker ended with the attempt; nothing is left busy.
    await eventually(() => expect(h.app.get(PluginRegistry).host.busyWorkers).toBe(0));

    writeFileSync(counterFile, `module.exports = { name: 'counter', version: '3.0.0', execute: ( };`);
    await eventually(async () => expect(await plugin('counter')).toMatchObject({ version: '2.0.0', status: 'loaded', reload_error: expect.stringContaining('Unexpected token') }), {
      timeoutMs: 30_000,
    });
    const report = await h.call('POST', '/api/plugins/reload');
    expect(report.body).toMatchObject({ trigger: 'request', loaded: [], failed: [expect.objectContaining({ file: 'counter.js', name: 'counter', kept: '2.0.0' })] });
    expect((await run('count')).steps[0]).toMatchObject({ status: 'completed', output: { version: '2.0.0', n: 2 } });
    const workflowsReload = await h.call('POST', '/api/workflows/reload');
    expect(workflowsReload.body.plugins).toMatchObject({ failed: [expect.objectContaining({ name: 'counter', kept: '2.0.0' })] });
    expect((await h.call('GET', '/api/plugins')).body.plugins).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'counter', version: '2.0.0', status: 'loaded' })]));
  });

  it('a plugin dropped into the directory is loaded, and a manifest naming it registers and runs', async () => {
    writeFileSync(path.join(h.workflowsDir, 'hello.yaml'), manifest('hello', 'greeter', 'who: "{{ inputs.who }}"'));
    const refused = await h.call('POST', '/api/workflows/reload');
    expect(refused.body.refused).toEqual([expect.objectContaining({ file: 'hello.yaml' })]);

    // A directory plugin whose code spans two files (both read when it loads).
    mkdirSync(path.join(pluginsDir, 'greeter'));
    writeFileSync(path.join(pluginsDir, 'greeter', 'words.js'), `module.exports = { hello: 'hello' };`);
    writeFileSync(path.join(pluginsDir, 'greeter', 'index.js'), `const words = require('./words'); module.exports = { name: 'greeter', version: '1.0.0', execute: (ctx, input) => ({ greeting: words.hello + ' ' + input.who }) };`);
    // The watcher may get there first (it then reloads the workflows too); either way one request settles it.
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.status).toBe(201);
    expect(await plugin('greeter')).toMatchObject({ version: '1.0.0', status: 'loaded', file: path.join('greeter', 'index.js') });
    expect((await h.call('GET', '/api/workflows/hello')).status).toBe(200);
    expect((await run('hello', { who: 'asha' })).steps[0]).toMatchObject({ status: 'completed', output: { greeting: 'hello asha' } });
  });
});
