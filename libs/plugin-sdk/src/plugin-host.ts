import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { PluginErrorCode } from '@pancha/contracts';
import type { ActionDeclaration } from './plugin.types';
import { PLUGIN_WORKER_SOURCE } from './plugin-worker.source';

/** Where a plugin comes from: a file of PLUGINS_DIR or a package of PLUGIN_PACKAGES. */
export interface PluginEntry {
  source: 'directory' | 'package';
  /** Absolute file (directory plugins) or the package name. */
  entry: string;
  /** Relative to PLUGINS_DIR (directory plugins), or the package name: what the plugins API shows. */
  label: string;
}

export interface PluginHostOptions {
  /** Files and directories a plugin may not load or read: the executor's code, its keys. */
  forbiddenPaths: readonly string[];
  /** Heap of each worker (resourceLimits.maxOldGenerationSizeMb). */
  maxMemoryMb: number;
  /** A plugin that has not declared itself after this is reported as failed (a hang at load). */
  loadTimeoutMs?: number;
  /** Packages resolve from here (a file path; its node_modules chain is searched). */
  resolveFrom?: string;
  /** Loaded workers kept warm per plugin version for the next attempt (default 2; 0: a fresh worker per attempt). */
  poolSize?: number;
  /** A warm worker unused for this long is stopped (default 5 minutes). */
  idleMs?: number;
  /** After an abort, how long the plugin has to see its signal before its worker is terminated (default 100 ms). */
  abortGraceMs?: number;
  /** Called for every worker started (a load, or an attempt that found no warm worker): for metrics. */
  onWorkerStart?: (plugin: PluginEntry) => void;
}

export type PluginFailure = { code: string; message: string; retryable: boolean };
export type DescribeResult = { ok: true; declaration: ActionDeclaration } | { ok: false; error: string };
export type ExecuteResult = { ok: true; output: unknown } | { ok: false; error: PluginFailure };
/** A version loaded for serving: its declaration and the pool its attempts run in (seeded with the worker that loaded it). */
export type LoadResult =
  | { ok: true; declaration: ActionDeclaration; pool: PluginPool; fingerprint: string }
  | { ok: false; error: string; fingerprint: string };

export interface ExecuteOptions {
  input: Record<string, unknown>;
  idempotencyKey: string;
  traceparent: string | undefined;
  /** Only the plugin's declared secrets. */
  secrets: Readonly<Record<string, string>>;
  signal: AbortSignal;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

export interface PoolStats {
  /** Workers alive now (warm, busy or starting). */
  workers: number;
  idle: number;
  busy: number;
  /** Workers this pool started, and attempts that ran on a worker an earlier attempt had used. */
  started: number;
  reused: number;
  closed: boolean;
}

/** The code of one plugin version as read when it was loaded: absolute file → source, and its hash. */
interface Snapshot {
  files: Record<string, string>;
  fingerprint: string;
}

type ReadyMessage = { type: 'ready'; ok: true; declaration: ActionDeclaration } | { type: 'ready'; ok: false; code: string; error: string };
type Ready = { ok: true; declaration: ActionDeclaration } | { ok: false; code: string; error: string; retryable: boolean };
type WorkerMessage =
  | ReadyMessage
  | { type: 'log'; id: number; level?: 'debug' | 'info' | 'warn' | 'error'; message?: string; fields?: Record<string, unknown> }
  | { type: 'result'; id: number; ok: boolean; output?: unknown; error?: PluginFailure };

const DEFAULT_POOL_SIZE = 2;
const DEFAULT_IDLE_MS = 300_000;
const DEFAULT_ABORT_GRACE_MS = 100;
/** Code above this (per file, and per plugin) is read from disk by the worker instead of from the snapshot. */
const SNAPSHOT_FILE_LIMIT = 2 * 1024 * 1024;
const SNAPSHOT_TOTAL_LIMIT = 8 * 1024 * 1024;

/**
 * Runs plugins in worker threads with a heap limit, an empty environment and the fence of PLUGIN_WORKER_SOURCE.
 * Each loaded version has a pool of warm workers (PluginPool): an attempt takes a loaded worker, or starts one,
 * and gives it back when the plugin answered. A worker whose attempt was aborted (the step's timeout, a cancel),
 * that crashed, ran out of memory or did not load is terminated and never reused.
 */
export class PluginHost {
  private live = new Set<Worker>();
  private parked = 0;
  private readonly pools = new Map<string, PluginPool>();
  private readonly owned = new Set<PluginPool>();

  constructor(readonly options: PluginHostOptions) {}

  /** Worker threads alive now (warm ones included). */
  get activeWorkers(): number {
    return this.live.size;
  }

  /** Worker threads alive and not parked warm in a pool: running or starting an attempt, or being stopped. */
  get busyWorkers(): number {
    return this.live.size - this.parked;
  }

  /** Loads the plugin in a worker and returns its validated declaration, or why it is unusable; the worker ends. */
  async describe(plugin: PluginEntry): Promise<DescribeResult> {
    const { worker, ready } = await this.loadWorker(plugin, readSnapshot(plugin, this.resolveFrom));
    void worker.terminate();
    return ready.ok ? { ok: true, declaration: ready.declaration } : { ok: false, error: ready.error };
  }

  /** The hash of the plugin's code on disk now: a reload loads a version again only when it changed. */
  fingerprint(plugin: PluginEntry): string {
    return readSnapshot(plugin, this.resolveFrom).fingerprint;
  }

  /** Loads a version to serve: its code is read now (later edits on disk do not touch it), its loading worker kept warm. */
  async load(plugin: PluginEntry): Promise<LoadResult> {
    const snapshot = readSnapshot(plugin, this.resolveFrom);
    const { worker, ready } = await this.loadWorker(plugin, snapshot);
    if (!ready.ok) {
      void worker.terminate();
      return { ok: false, error: ready.error, fingerprint: snapshot.fingerprint };
    }
    const pool = new PluginPool(this, plugin, snapshot);
    this.owned.add(pool);
    pool.adopt(worker);
    return { ok: true, declaration: ready.declaration, pool, fingerprint: snapshot.fingerprint };
  }

  /** One attempt on the plugin's pool (created on first use, with the code on disk then). Never throws. */
  execute(plugin: PluginEntry, options: ExecuteOptions): Promise<ExecuteResult> {
    let pool = this.pools.get(plugin.entry);
    if (!pool) {
      pool = new PluginPool(this, plugin, readSnapshot(plugin, this.resolveFrom));
      this.pools.set(plugin.entry, pool);
      this.owned.add(pool);
    }
    return pool.execute(options);
  }

  /** Stops every worker (the executor's shutdown). */
  async close(): Promise<void> {
    for (const pool of [...this.owned]) void pool.close();
    await Promise.all([...this.live].map((worker) => worker.terminate()));
  }

  /** @internal */
  forget(pool: PluginPool): void {
    this.owned.delete(pool);
    if (this.pools.get(pool.entry.entry) === pool) this.pools.delete(pool.entry.entry);
  }

  /** @internal a worker of the pool was parked warm (+1) or taken / stopped (-1). */
  countParked(delta: number): void {
    this.parked += delta;
  }

  private get resolveFrom(): string {
    return this.options.resolveFrom ?? path.join(process.cwd(), 'package.json');
  }

  private async loadWorker(plugin: PluginEntry, snapshot: Snapshot): Promise<{ worker: PluginWorker; ready: Ready }> {
    const timeoutMs = this.options.loadTimeoutMs ?? 5_000;
    const worker = this.spawn(plugin, snapshot);
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([
      worker.ready,
      new Promise<Ready>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, code: PluginErrorCode.LoadFailed, error: `did not finish loading within ${timeoutMs} ms`, retryable: false }), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return { worker, ready };
  }

  /** @internal */
  spawn(plugin: PluginEntry, snapshot: Snapshot): PluginWorker {
    const worker = new Worker(PLUGIN_WORKER_SOURCE, {
      eval: true,
      env: {},
      stdout: true,
      stderr: true,
      workerData: {
        entry: plugin.entry,
        resolveFrom: this.resolveFrom,
        forbidden: [...this.options.forbiddenPaths],
        snapshot: snapshot.files,
      },
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxMemoryMb, maxYoungGenerationSizeMb: Math.min(16, this.options.maxMemoryMb), stackSizeMb: 4 },
    });
    // A plugin's console output is not the executor's log: it goes nowhere (use ctx.logger).
    worker.stdout.resume();
    worker.stderr.resume();
    this.live.add(worker);
    worker.once('exit', () => this.live.delete(worker));
    this.options.onWorkerStart?.(plugin);
    return new PluginWorker(worker, plugin, this.options.maxMemoryMb, this.options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS);
  }
}

/**
 * The warm workers of one plugin version. An attempt takes a parked worker (or starts one) and runs on it alone;
 * when the plugin answered (a result or its own error) the worker is parked again, up to `poolSize`, and stopped
 * after `idleMs` unused. Anything else (an abort, a crash, running out of memory, a failed load) ends the worker.
 * Closing the pool (a new version replaced it) stops the parked workers at once and each busy one when its attempt
 * ends: in-flight attempts finish on the worker they have.
 */
export class PluginPool {
  private readonly idle: PluginWorker[] = [];
  private readonly all = new Set<PluginWorker>();
  private started = 0;
  private reused = 0;
  private closed = false;
  private readonly size: number;
  private readonly idleMs: number;

  constructor(
    private readonly host: PluginHost,
    readonly entry: PluginEntry,
    private readonly snapshot: Snapshot,
  ) {
    this.size = host.options.poolSize ?? DEFAULT_POOL_SIZE;
    this.idleMs = host.options.idleMs ?? DEFAULT_IDLE_MS;
  }

  get fingerprint(): string {
    return this.snapshot.fingerprint;
  }

  stats(): PoolStats {
    return { workers: this.all.size, idle: this.idle.length, busy: this.all.size - this.idle.length, started: this.started, reused: this.reused, closed: this.closed };
  }

  /** @internal the worker that loaded this version becomes its first warm worker. */
  adopt(worker: PluginWorker): void {
    this.track(worker);
    this.started++;
    this.release(worker, true);
  }

  /** One attempt: the output, or a classified failure. Never throws. */
  async execute(options: ExecuteOptions): Promise<ExecuteResult> {
    if (options.signal.aborted) return cancelled();
    let worker = this.takeIdle();
    if (worker) this.reused++;
    else {
      worker = this.host.spawn(this.entry, this.snapshot);
      this.track(worker);
      this.started++;
    }
    const ready = await untilAborted(worker.ready, options.signal);
    if (ready === undefined) {
      void worker.terminate();
      return cancelled();
    }
    if (!ready.ok) {
      void worker.terminate();
      return { ok: false, error: { code: ready.code, message: `${this.entry.label}: ${ready.error}`, retryable: ready.retryable } };
    }
    const { result, reusable } = await worker.run(options);
    this.release(worker, reusable);
    return result;
  }

  /** No new attempt parks here any more; parked workers stop now, busy ones when their attempt ends. Resolves when all ended. */
  async close(): Promise<void> {
    this.closed = true;
    this.host.forget(this);
    for (const worker of this.idle.splice(0)) {
      this.host.countParked(-1);
      void worker.terminate();
    }
    await Promise.all([...this.all].map((worker) => worker.exited));
  }

  private track(worker: PluginWorker): void {
    this.all.add(worker);
    void worker.exited.then(() => {
      this.all.delete(worker);
      const parked = this.idle.indexOf(worker);
      if (parked >= 0) {
        // It died while parked (a stray callback threw after its attempt): never handed out again.
        this.idle.splice(parked, 1);
        this.host.countParked(-1);
        worker.clearIdleTimer();
      }
    });
  }

  private takeIdle(): PluginWorker | undefined {
    for (let worker = this.idle.pop(); worker; worker = this.idle.pop()) {
      this.host.countParked(-1);
      worker.clearIdleTimer();
      if (worker.dead) continue;
      worker.ref();
      return worker;
    }
    return undefined;
  }

  private release(worker: PluginWorker, reusable: boolean): void {
    if (worker.stopping) return; // aborted: it ends after the grace its plugin has to see the signal
    if (!reusable || worker.dead || this.closed || this.idle.length >= this.size) {
      void worker.terminate();
      return;
    }
    worker.unref();
    worker.setIdleTimer(this.idleMs, () => {
      const at = this.idle.indexOf(worker);
      if (at < 0) return;
      this.idle.splice(at, 1);
      this.host.countParked(-1);
      void worker.terminate();
    });
    this.idle.push(worker);
    this.host.countParked(1);
  }
}

/** One worker thread and the attempt it runs now (at most one). */
class PluginWorker {
  readonly ready: Promise<Ready>;
  readonly exited: Promise<void>;
  dead = false;
  /** Aborted: terminated after the grace, whatever the pool decides. */
  stopping = false;
  private idleTimer?: NodeJS.Timeout;
  private current?: { id: number; log: ExecuteOptions['log']; done(result: ExecuteResult, reusable: boolean): void };
  private ids = 0;

  constructor(
    private readonly worker: Worker,
    private readonly plugin: PluginEntry,
    private readonly maxMemoryMb: number,
    private readonly abortGraceMs: number,
  ) {
    let loaded: (ready: Ready) => void;
    this.ready = new Promise((resolve) => (loaded = resolve));
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') loaded(m.ok ? { ok: true, declaration: m.declaration } : { ok: false, code: m.code, error: m.error, retryable: false });
      else if (m.id !== this.current?.id) return; // a stray log or answer of an attempt that already ended
      else if (m.type === 'log') this.current.log(m.level ?? 'info', m.message ?? '', m.fields);
      else if (m.type === 'result') this.current.done(m.ok ? { ok: true, output: m.output } : { ok: false, error: m.error! }, true);
    });
    worker.on('error', (error: Error & { code?: string }) => {
      this.dead = true;
      const oom = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      loaded({
        ok: false,
        code: oom ? PluginErrorCode.OutOfMemory : PluginErrorCode.Crashed,
        error: oom ? `ran out of memory while loading (${maxMemoryMb} MB)` : `loading threw: ${error.message}`,
        retryable: !oom,
      });
      this.current?.done(
        {
          ok: false,
          error: oom
            ? { code: PluginErrorCode.OutOfMemory, message: `${plugin.label} allocated past ${maxMemoryMb} MB; its worker was stopped`, retryable: false }
            : { code: PluginErrorCode.Crashed, message: `${plugin.label} crashed: ${error.message}`, retryable: true },
        },
        false,
      );
    });
    worker.once('exit', (code) => {
      this.dead = true;
      this.clearIdleTimer();
      loaded({ ok: false, code: PluginErrorCode.Crashed, error: `its worker exited (${code}) while loading`, retryable: true });
      this.current?.done({ ok: false, error: { code: PluginErrorCode.Crashed, message: `${plugin.label} exited (${code}) without an answer`, retryable: true } }, false);
    });
  }

  /** One attempt on this worker, with a ctx made for it alone in the worker; `reusable` when the plugin answered. */
  run(options: ExecuteOptions): Promise<{ result: ExecuteResult; reusable: boolean }> {
    const id = ++this.ids;
    return new Promise((resolve) => {
      const onAbort = (): void => {
        // The plugin sees its signal abort; a plugin that does not give up (or spins) is stopped after the grace.
        this.stopping = true;
        this.post({ type: 'abort', id });
        this.current?.done(cancelled(), false);
        setTimeout(() => this.terminate(), this.abortGraceMs).unref();
      };
      this.current = {
        id,
        log: options.log,
        done: (result, reusable) => {
          this.current = undefined;
          options.signal.removeEventListener('abort', onAbort);
          resolve({ result, reusable });
        },
      };
      if (this.dead) return this.current.done({ ok: false, error: { code: PluginErrorCode.Crashed, message: `${this.plugin.label}: its worker had stopped`, retryable: true } }, false);
      // Aborted while the worker was being handed over: nothing ran, the worker stays good.
      if (options.signal.aborted) return this.current.done(cancelled(), true);
      options.signal.addEventListener('abort', onAbort, { once: true });
      try {
        this.worker.postMessage({
          type: 'execute',
          id,
          input: options.input,
          ctx: { idempotencyKey: options.idempotencyKey, traceparent: options.traceparent },
          secrets: { ...options.secrets },
        });
      } catch (error) {
        this.current.done({ ok: false, error: { code: PluginErrorCode.InvalidInput, message: `the input cannot be sent to the plugin: ${(error as Error).message}`, retryable: false } }, true);
      }
    });
  }

  terminate(): Promise<unknown> {
    this.dead = true;
    this.clearIdleTimer();
    return this.worker.terminate();
  }

  ref(): void {
    this.worker.ref();
  }

  unref(): void {
    this.worker.unref();
  }

  setIdleTimer(ms: number, onIdle: () => void): void {
    this.clearIdleTimer();
    this.idleTimer = setTimeout(onIdle, ms);
    this.idleTimer.unref();
  }

  clearIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private post(message: unknown): void {
    try {
      this.worker.postMessage(message);
    } catch {
      // the worker is gone: nothing to tell it
    }
  }
}

function cancelled(): ExecuteResult {
  return { ok: false, error: { code: 'cancelled', message: 'the attempt was aborted; its worker was stopped', retryable: true } };
}

/** The value, or undefined when the signal aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then((value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    });
  });
}

/**
 * The plugin's code as it is on disk now: a file plugin's file; a directory or package plugin's .js/.cjs/.json
 * files under its root (its own node_modules, dotfiles and tests left out), with a hash of paths and contents.
 */
function readSnapshot(plugin: PluginEntry, resolveFrom: string): Snapshot {
  const files: Record<string, string> = {};
  const hash = createHash('sha256');
  let total = 0;
  const add = (file: string): void => {
    let text: string;
    try {
      if (statSync(file).size > SNAPSHOT_FILE_LIMIT || total > SNAPSHOT_TOTAL_LIMIT) {
        hash.update(`${file}\0${statSync(file).mtimeMs}\0`);
        return;
      }
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    total += text.length;
    files[file] = text;
    hash.update(`${file}\0${text}\0`);
  };
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.') || name === 'node_modules' || /\.(spec|test)\.[cm]?[jt]s$/.test(name)) continue;
      const full = path.join(dir, name);
      let isDir = false;
      try {
        isDir = statSync(full).isDirectory();
      } catch {
        continue;
      }
      if (isDir) walk(full);
      else if (/\.(c?js|json)$/.test(name)) add(full);
    }
  };
  const entry = plugin.source === 'package' ? resolvePackage(plugin.entry, resolveFrom) : plugin.entry;
  if (entry) {
    const root = plugin.source === 'package' ? packageRoot(entry) : directoryRoot(plugin);
    if (root) walk(root);
    else add(entry);
  } else {
    hash.update(`unresolved:${plugin.entry}`);
  }
  return { files, fingerprint: hash.digest('hex') };
}

/** `<dir>/<name>` of a directory plugin (`<name>/index.js`, or its package.json main); undefined for `<name>.js`. */
function directoryRoot(plugin: PluginEntry): string | undefined {
  if (!plugin.label.includes(path.sep) || !plugin.entry.endsWith(plugin.label)) return undefined;
  return path.join(plugin.entry.slice(0, plugin.entry.length - plugin.label.length), plugin.label.split(path.sep)[0]);
}

function resolvePackage(name: string, resolveFrom: string): string | undefined {
  try {
    return createRequire(resolveFrom).resolve(name);
  } catch {
    return undefined;
  }
}

function packageRoot(file: string): string | undefined {
  for (let dir = path.dirname(file); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
  }
  return undefined;
}

/** `<dir>/<name>.js|.cjs` and `<dir>/<name>/index.js|.cjs` (or its package.json `main`); tests and dotfiles skipped. */
export function discoverPluginFiles(dir: string): PluginEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const entries: PluginEntry[] = [];
  for (const name of names) {
    if (name.startsWith('.') || name === 'node_modules' || /\.(spec|test)\.[cm]?js$/.test(name)) continue;
    const full = path.join(dir, name);
    let isDir: boolean;
    try {
      isDir = statSync(full).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) {
      if (/\.c?js$/.test(name)) entries.push({ source: 'directory', entry: full, label: name });
      continue;
    }
    const main = packageMain(full) ?? ['index.js', 'index.cjs'].find((f) => existsSync(path.join(full, f)));
    if (main) entries.push({ source: 'directory', entry: path.join(full, main), label: path.join(name, main) });
  }
  return entries;
}

/** PLUGIN_PACKAGES entries as the worker resolves them (a package that does not resolve fails its load, reported). */
export function packagePluginEntries(packages: readonly string[]): PluginEntry[] {
  return packages.map((name) => ({ source: 'package', entry: name, label: name }));
}

function packageMain(dir: string): string | undefined {
  try {
    const pkg = createRequire(path.join(dir, 'package.json'))('./package.json') as { main?: string };
    return pkg.main && existsSync(path.join(dir, pkg.main)) ? pkg.main : undefined;
  } catch {
    return undefined;
  }
}
