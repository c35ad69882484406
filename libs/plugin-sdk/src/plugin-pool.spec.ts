/**
 * The warm pool with real worker threads: a loaded worker serves the next attempt (module state survives, ctx does
 * not); a worker that crashed, was aborted, ran out of memory or did not load is replaced, never reused; a loaded
 * version keeps its code when the files change on disk; the pool keeps at most `poolSize` warm workers.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ExecuteOptions, type PluginEntry, PluginHost, type PluginPool } from './plugin-host';

jest.setTimeout(60_000);

const root = mkdtempSync(path.join(tmpdir(), 'plugin-pool-'));
const pluginsDir = path.join(root, 'plugins');
mkdirSync(pluginsDir);
const marker = path.join(root, 'aborted.txt');

const COUNTER = `let n = 0; let last;
module.exports = { name: 'counter', version: '1.0.0', execute: (ctx, input) => {
  n++;
  const previous = last;
  last = ctx;
  if (input.stale && previous) previous.logger.info('stale line from an earlier attempt');
  ctx.logger.info('attempt', { n });
  if (input.crash) return new Promise(() => setImmediate(() => { throw new Error('async boom'); }));
  // Written aside then renamed: the test waits for the file to exist, and a file being written exists empty first.
  if (input.hang) return new Promise(() => ctx.signal.addEventListener('abort', () => { const fs = require('node:fs'); fs.writeFileSync(${JSON.stringify(marker + '.tmp')}, ctx.idempotencyKey); fs.renameSync(${JSON.stringify(marker + '.tmp')}, ${JSON.stringify(marker)}); }));
  if (input.hog) { const keep = []; for (;;) keep.push(new Array(1e5).fill({ x: Math.random() })); }
  return { n, key: ctx.idempotencyKey, secrets: Object.keys(ctx.secrets), sameCtx: previous === ctx, previousAborted: previous ? previous.signal.aborted : null };
} };`;

const host = new PluginHost({ forbiddenPaths: [], maxMemoryMb: 32, loadTimeoutMs: 10_000, poolSize: 2, abortGraceMs: 50 });

let seq = 0;
function write(file: string, code: string): PluginEntry {
  writeFileSync(path.join(pluginsDir, file), code);
  return { source: 'directory', entry: path.join(pluginsDir, file), label: file };
}
async function loaded(file: string, code: string): Promise<PluginPool> {
  const result = await host.load(write(file, code));
  if (!result.ok) throw new Error(result.error);
  return result.pool;
}
function options(extra: Partial<ExecuteOptions> = {}): ExecuteOptions {
  return { input: {}, idempotencyKey: `run-${++seq}:step`, traceparent: undefined, secrets: {}, signal: new AbortController().signal, log: () => undefined, ...extra };
}

afterAll(async () => {
  await host.close();
  rmSync(root, { recursive: true, force: true });
});

describe('PluginPool', () => {
  it('serves the next attempt on the worker that loaded the plugin: no new worker, module state kept', async () => {
    const pool = await loaded('counter-reuse.js', COUNTER);
    expect(pool.stats()).toMatchObject({ workers: 1, idle: 1, started: 1, reused: 0 });
    expect(await pool.execute(options())).toMatchObject({ ok: true, output: { n: 1 } });
    expect(await pool.execute(options())).toMatchObject({ ok: true, output: { n: 2 } });
    expect(pool.stats()).toMatchObject({ workers: 1, idle: 1, busy: 0, started: 1, reused: 2 });
  });

  it('gives each attempt a fresh ctx: its own key, secrets, signal and logger', async () => {
    const pool = await loaded('counter-ctx.js', COUNTER);
    const first = await pool.execute(options({ secrets: { TOKEN: 'first' } }));
    expect(first).toMatchObject({ ok: true, output: { n: 1, secrets: ['TOKEN'] } });
    const logs: { first: string[]; second: string[] } = { first: [], second: [] };
    const second = await pool.execute(
      options({ idempotencyKey: 'run-b:step', input: { stale: true }, log: (_level, message) => logs.second.push(message) }),
    );
    expect(second).toEqual({ ok: true, output: { n: 2, key: 'run-b:step', secrets: [], sameCtx: false, previousAborted: false } });
    // The first attempt's logger, called during the second, reaches neither attempt's log.
    expect(logs.second).toEqual(['attempt']);
    expect(logs.first).toEqual([]);
  });

  it('replaces a worker that crashed: the next attempt starts a new one', async () => {
    const pool = await loaded('counter-crash.js', COUNTER);
    expect(await pool.execute(options())).toMatchObject({ ok: true, output: { n: 1 } });
    expect(await pool.execute(options({ input: { crash: true } }))).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'plugin_crashed', retryable: true, message: expect.stringContaining('async boom') }),
    });
    expect(await pool.execute(options())).toMatchObject({ ok: true, output: { n: 1 } });
    expect(pool.stats()).toMatchObject({ started: 2, workers: 1 });
  });

  it('an aborted attempt (the step timed out) sees its signal, and its worker is stopped, never reused', async () => {
    const pool = await loaded('counter-abort.js', COUNTER);
    expect(await pool.execute(options())).toMatchObject({ ok: true, output: { n: 1 } });
    const abort = new AbortController();
    const logs: string[] = [];
    const pending = pool.execute(options({ idempotencyKey: 'run-hung:step', input: { hang: true }, signal: abort.signal, log: (_l, message) => logs.push(message) }));
    await waitFor(() => logs.includes('attempt')); // the plugin is running
    abort.abort();
    expect(await pending).toEqual({ ok: false, error: expect.objectContaining({ code: 'cancelled' }) });
    await waitFor(() => existsSync(marker));
    expect(readFileSync(marker, 'utf8')).toBe('run-hung:step');
    await waitFor(() => pool.stats().workers === 0);
    expect(await pool.execute(options())).toMatchObject({ ok: true, output: { n: 1 } });
    expect(pool.stats()).toMatchObject({ started: 2 });
  });

  it('a worker that ran out of memory is replaced', async () => {
    const pool = await loaded('counter-hog.js', COUNTER);
    expect(await pool.execute(options({ input: { hog: true } }))).toEqual({ ok: false, error: expect.objectContaining({ code: 'plugin_out_of_memory' }) });
    expect(await pool.execute(options())).toMatchObject({ ok: true, output: { n: 1 } });
    expect(pool.stats()).toMatchObject({ started: 2, workers: 1 });
  });

  it('a worker whose plugin no longer loads fails the attempt with plugin_load_failed and is not kept', async () => {
    const entry = write('flaky-load.js', `throw new Error('config missing');`);
    expect(await host.execute(entry, options())).toEqual({ ok: false, error: expect.objectContaining({ code: 'plugin_load_failed', message: expect.stringContaining('config missing') }) });
    await waitFor(() => host.busyWorkers === 0);
  });

  it('keeps the code it loaded: an edit on disk (even a broken one) does not reach its new workers', async () => {
    const pool = await loaded('versioned.js', `module.exports = { name: 'versioned', version: '1.0.0', execute: (ctx, input) => { if (input.crash) setImmediate(() => { throw new Error('x'); }); return new Promise((r) => setImmediate(() => r('v1'))); } };`);
    writeFileSync(path.join(pluginsDir, 'versioned.js'), `throw new Error('half-written');`);
    expect(host.fingerprint({ source: 'directory', entry: path.join(pluginsDir, 'versioned.js'), label: 'versioned.js' })).not.toBe(pool.fingerprint);
    expect(await pool.execute(options({ input: { crash: true } }))).toMatchObject({ ok: false, error: { code: 'plugin_crashed' } });
    // A new worker, from the snapshot: still v1.
    expect(await pool.execute(options())).toEqual({ ok: true, output: 'v1' });
    expect(pool.stats().started).toBe(2);
  });

  it('keeps at most poolSize warm workers; attempts beyond it run on workers that end with them', async () => {
    const pool = await loaded('slow.js', `module.exports = { name: 'slow', version: '1.0.0', execute: () => new Promise((r) => setTimeout(() => r('done'), 300)) };`);
    const results = await Promise.all([1, 2, 3, 4].map(() => pool.execute(options())));
    expect(results).toEqual(Array(4).fill({ ok: true, output: 'done' }));
    await waitFor(() => pool.stats().workers === 2);
    expect(pool.stats()).toMatchObject({ idle: 2, busy: 0, started: 4 });
  });

  it('close stops the warm workers at once and a busy one when its attempt ends', async () => {
    const pool = await loaded('closing.js', `module.exports = { name: 'closing', version: '1.0.0', execute: (ctx, input) => input.wait ? new Promise((r) => setTimeout(() => r('finished'), 300)) : 'ok' };`);
    await pool.execute(options());
    const inFlight = pool.execute(options({ input: { wait: true } }));
    await waitFor(() => pool.stats().busy === 1);
    const closed = pool.close();
    expect(await inFlight).toEqual({ ok: true, output: 'finished' });
    await closed;
    expect(pool.stats()).toMatchObject({ workers: 0, closed: true });
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
