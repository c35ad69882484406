/**
 * The worker host with real worker threads: a good plugin answers; one that throws at load, hangs, allocates without
 * bound, or reaches for the executor's modules or keys is contained with a clear code, and no worker outlives it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { discoverPluginFiles, type ExecuteOptions, type PluginEntry, PluginHost } from './plugin-host';

jest.setTimeout(60_000);

const root = mkdtempSync(path.join(tmpdir(), 'plugin-host-'));
const pluginsDir = path.join(root, 'plugins');
const executorDir = path.join(root, 'executor');
const keysDir = path.join(root, 'keys');
mkdirSync(pluginsDir);
mkdirSync(executorDir);
mkdirSync(keysDir);
writeFileSync(path.join(executorDir, 'internals.js'), 'module.exports = { secret: "executor internals" };');
writeFileSync(path.join(keysDir, 'core.key'), 'PRIVATE KEY');

const PLUGINS: Record<string, string> = {
  'echo.js': `const { definePlugin, PluginError } = require('@pancha/plugin-sdk');
module.exports = definePlugin({
  name: 'echo', version: '1.0.0', description: 'echoes', secrets: ['TOKEN'], retryable: ['busy'],
  input: { type: 'object' },
  async execute(ctx, input) {
    if (input.fail) throw new PluginError(input.fail, 'asked to fail');
    ctx.logger.info('echoing', { n: 1 });
    return { input, key: ctx.idempotencyKey, secrets: Object.keys(ctx.secrets), env: Object.keys(process.env).length };
  },
});`,
  'throws-at-load.js': `throw new Error('boom at load');`,
  'not-a-plugin.js': `module.exports = { name: 'Bad Name', version: 'x' };`,
  'hangs.js': `module.exports = { name: 'hangs', version: '1.0.0', execute: (ctx) => { ctx.logger.info('spinning'); for (;;) {} } };`,
  'hogs.js': `module.exports = { name: 'hogs', version: '1.0.0', execute: () => { const keep = []; for (;;) keep.push(new Array(1e5).fill({ x: Math.random() })); } };`,
  'sneaky.js': `module.exports = { name: 'sneaky', version: '1.0.0', execute: (ctx, input) => {
    if (input.how === 'require') return require(${JSON.stringify(path.join(executorDir, 'internals.js'))});
    if (input.how === 'pancha') return require('@pancha/contracts');
    if (input.how === 'keys') return require('node:fs').readFileSync(${JSON.stringify(path.join(keysDir, 'core.key'))}, 'utf8');
    if (input.how === 'spawn') return require('node:child_process').execSync('cat /etc/hostname').toString();
    if (input.how === 'binding') return process.binding('fs');
  } };`,
};
for (const [file, code] of Object.entries(PLUGINS)) writeFileSync(path.join(pluginsDir, file), code);

const host = new PluginHost({ forbiddenPaths: [executorDir, keysDir], maxMemoryMb: 32, loadTimeoutMs: 10_000 });
const entry = (file: string): PluginEntry => ({ source: 'directory', entry: path.join(pluginsDir, file), label: file });
const run = (file: string, input: Record<string, unknown>, extra: Partial<ExecuteOptions> = {}) =>
  host.execute(entry(file), { input, idempotencyKey: 'run-1:step', traceparent: undefined, secrets: {}, signal: new AbortController().signal, log: () => undefined, ...extra });

afterAll(async () => {
  await host.close();
  rmSync(root, { recursive: true, force: true });
});

describe('discoverPluginFiles', () => {
  it('finds .js files and directories with an index, skipping tests and dotfiles', () => {
    mkdirSync(path.join(pluginsDir, 'dir-plugin'), { recursive: true });
    writeFileSync(path.join(pluginsDir, 'dir-plugin', 'index.js'), PLUGINS['echo.js']);
    writeFileSync(path.join(pluginsDir, 'echo.spec.js'), '');
    const labels = discoverPluginFiles(pluginsDir).map((e) => e.label);
    expect(labels).toEqual(expect.arrayContaining(['echo.js', path.join('dir-plugin', 'index.js'), 'hangs.js']));
    expect(labels).not.toContain('echo.spec.js');
  });
});

describe('PluginHost.describe', () => {
  it('returns the validated declaration', async () => {
    expect(await host.describe(entry('echo.js'))).toEqual({
      ok: true,
      declaration: { name: 'echo', version: '1.0.0', description: 'echoes', input: { type: 'object' }, retryableCodes: ['busy'], secrets: ['TOKEN'] },
    });
  });

  it('reports a plugin that throws at load, and one that is not a valid definition', async () => {
    expect(await host.describe(entry('throws-at-load.js'))).toEqual({ ok: false, error: expect.stringContaining('boom at load') });
    expect(await host.describe(entry('not-a-plugin.js'))).toEqual({ ok: false, error: expect.stringMatching(/name must match.*version must be semver.*execute must be a function/) });
  });

  it('reports a package that does not resolve', async () => {
    expect(await host.describe({ source: 'package', entry: 'no-such-pancha-plugin', label: 'no-such-pancha-plugin' })).toEqual({ ok: false, error: expect.stringContaining('Cannot find module') });
  });
});

describe('PluginHost.execute', () => {
  it('runs execute with the idempotency key, only the given secrets, no environment, and relays logs', async () => {
    const logs: unknown[] = [];
    const result = await run('echo.js', { a: 1 }, { secrets: { TOKEN: 't' }, log: (level, message, fields) => logs.push({ level, message, fields }) });
    expect(result).toEqual({ ok: true, output: { input: { a: 1 }, key: 'run-1:step', secrets: ['TOKEN'], env: 0 } });
    expect(logs).toEqual([{ level: 'info', message: 'echoing', fields: { n: 1 } }]);
  });

  it('classifies the plugin’s own codes with its retryable list', async () => {
    expect(await run('echo.js', { fail: 'busy' })).toEqual({ ok: false, error: { code: 'busy', message: 'asked to fail', retryable: true } });
    expect(await run('echo.js', { fail: 'bad_input' })).toEqual({ ok: false, error: { code: 'bad_input', message: 'asked to fail', retryable: false } });
  });

  it('a plugin that hangs is stopped when the step’s signal aborts; its worker ends', async () => {
    const abort = new AbortController();
    // Abort once the plugin is spinning (its log line is out before the loop), not after a fixed pause: on a busy
    // machine the worker may not have loaded yet, and the abort would stop a load instead of a hanging plugin.
    let spinning!: () => void;
    const started = new Promise<void>((resolve) => (spinning = resolve));
    const pending = run('hangs.js', {}, { signal: abort.signal, log: (_level, message) => message === 'spinning' && spinning() });
    await started;
    abort.abort();
    expect(await pending).toEqual({ ok: false, error: expect.objectContaining({ code: 'cancelled' }) });
    await waitFor(() => host.busyWorkers === 0);
  });

  it('a plugin that allocates without bound fails with plugin_out_of_memory', async () => {
    expect(await run('hogs.js', {})).toEqual({ ok: false, error: expect.objectContaining({ code: 'plugin_out_of_memory', retryable: false }) });
    await waitFor(() => host.busyWorkers === 0);
  });

  it.each(['require', 'pancha', 'keys', 'spawn', 'binding'])('a plugin reaching for the executor (%s) fails with plugin_forbidden_access', async (how) => {
    expect(await run('sneaky.js', { how })).toEqual({ ok: false, error: expect.objectContaining({ code: 'plugin_forbidden_access', retryable: false }) });
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
