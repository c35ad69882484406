import { existsSync, readdirSync, statSync } from 'node:fs';
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
}

export type PluginFailure = { code: string; message: string; retryable: boolean };
export type DescribeResult = { ok: true; declaration: ActionDeclaration } | { ok: false; error: string };
export type ExecuteResult = { ok: true; output: unknown } | { ok: false; error: PluginFailure };

export interface ExecuteOptions {
  input: Record<string, unknown>;
  idempotencyKey: string;
  traceparent: string | undefined;
  /** Only the plugin's declared secrets. */
  secrets: Readonly<Record<string, string>>;
  signal: AbortSignal;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

/**
 * Runs plugins in worker threads: one worker per load check and per attempt, with a heap limit, an empty
 * environment and the fence of PLUGIN_WORKER_SOURCE. An abort (the step's timeout, a cancel) terminates the
 * worker, so a plugin that hangs or spins costs nothing after its step gave up on it.
 */
export class PluginHost {
  private live = 0;

  constructor(private readonly options: PluginHostOptions) {}

  /** Workers running now (for tests and metrics: every one ends with its attempt). */
  get activeWorkers(): number {
    return this.live;
  }

  /** Loads the plugin in a worker and returns its validated declaration, or why it is unusable. */
  describe(plugin: PluginEntry): Promise<DescribeResult> {
    const timeoutMs = this.options.loadTimeoutMs ?? 5_000;
    return new Promise((resolve) => {
      const worker = this.spawn(plugin, { mode: 'describe' });
      let settled = false;
      const settle = (result: DescribeResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void worker.terminate();
        resolve(result);
      };
      const timer = setTimeout(() => settle({ ok: false, error: `did not finish loading within ${timeoutMs} ms` }), timeoutMs);
      worker.on('message', (m: { type: string; ok: boolean; declaration?: ActionDeclaration; error?: string }) => {
        if (m.type !== 'describe') return;
        settle(m.ok ? { ok: true, declaration: m.declaration! } : { ok: false, error: m.error ?? 'unknown load failure' });
      });
      worker.on('error', (error: Error & { code?: string }) =>
        settle({ ok: false, error: error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'ran out of memory while loading' : `loading threw: ${error.message}` }),
      );
      worker.on('exit', (code) => settle({ ok: false, error: `its worker exited (${code}) while loading` }));
    });
  }

  /** One attempt in a fresh worker: the output, or a classified failure. Never throws. */
  execute(plugin: PluginEntry, options: ExecuteOptions): Promise<ExecuteResult> {
    return new Promise((resolve) => {
      const worker = this.spawn(plugin, {
        mode: 'execute',
        input: options.input,
        ctx: { idempotencyKey: options.idempotencyKey, traceparent: options.traceparent },
        secrets: { ...options.secrets },
      });
      let settled = false;
      const settle = (result: ExecuteResult): void => {
        if (settled) return;
        settled = true;
        options.signal.removeEventListener('abort', onAbort);
        void worker.terminate();
        resolve(result);
      };
      const onAbort = (): void => settle({ ok: false, error: { code: 'cancelled', message: 'the attempt was aborted; its worker was stopped', retryable: true } });
      if (options.signal.aborted) return onAbort();
      options.signal.addEventListener('abort', onAbort, { once: true });
      worker.on('message', (m: { type: string; ok?: boolean; output?: unknown; error?: PluginFailure; level?: 'info'; message?: string; fields?: Record<string, unknown> }) => {
        if (m.type === 'log') options.log(m.level ?? 'info', m.message ?? '', m.fields);
        else if (m.type === 'result') settle(m.ok ? { ok: true, output: m.output } : { ok: false, error: m.error! });
      });
      worker.on('error', (error: Error & { code?: string }) =>
        settle({
          ok: false,
          error:
            error.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? { code: PluginErrorCode.OutOfMemory, message: `${plugin.label} allocated past ${this.options.maxMemoryMb} MB; its worker was stopped`, retryable: false }
              : { code: PluginErrorCode.Crashed, message: `${plugin.label} crashed: ${error.message}`, retryable: true },
        }),
      );
      worker.on('exit', (code) => settle({ ok: false, error: { code: PluginErrorCode.Crashed, message: `${plugin.label} exited (${code}) without an answer`, retryable: true } }));
    });
  }

  private spawn(plugin: PluginEntry, data: Record<string, unknown>): Worker {
    const worker = new Worker(PLUGIN_WORKER_SOURCE, {
      eval: true,
      env: {},
      stdout: true,
      stderr: true,
      workerData: {
        ...data,
        entry: plugin.entry,
        resolveFrom: this.options.resolveFrom ?? path.join(process.cwd(), 'package.json'),
        forbidden: [...this.options.forbiddenPaths],
      },
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxMemoryMb, maxYoungGenerationSizeMb: Math.min(16, this.options.maxMemoryMb), stackSizeMb: 4 },
    });
    // A plugin's console output is not the executor's log: it goes nowhere (use ctx.logger).
    worker.stdout.resume();
    worker.stderr.resume();
    this.live++;
    worker.once('exit', () => this.live--);
    return worker;
  }
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
