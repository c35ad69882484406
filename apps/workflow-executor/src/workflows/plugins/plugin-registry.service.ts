import { existsSync } from 'node:fs';
import path from 'node:path';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { MetricName, type PluginDetailView, type PluginReloadReport, type PluginView } from '@pancha/contracts';
import { discoverPluginFiles, type PluginEntry, PluginHost, packagePluginEntries, PLUGIN_NAME_REGEX } from '@pancha/plugin-sdk';
import { Counter, Gauge } from 'prom-client';
import { metricsRegistry, SerialLoad } from '@pancha/service-kit';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { ActionInvoker, type ExecutorAction } from '../engine/action-invoker.service';
import { WorkflowRegistry } from '../registry/workflow-registry.service';
import { WorkflowSecrets } from '../registry/workflow-secrets';
import { FailedPluginAction, PluginAction } from './plugin.action';
import { watchDirectory } from '../hot-reload';

const pluginLoads = new Counter({
  name: MetricName.PluginLoads,
  help: 'Plugin loads (at executor start and on reload), by source and result (loaded, failed)',
  labelNames: ['source', 'status'],
  registers: [metricsRegistry],
});

const workerStarts = new Counter({
  name: MetricName.PluginWorkerStarts,
  help: 'Plugin worker threads started: one per load, plus one per attempt that found no warm worker (a cold start)',
  labelNames: ['plugin'],
  registers: [metricsRegistry],
});

/** The registries whose pools the workers gauge reads at scrape time (one per executor app in this process). */
const scraped = new Set<PluginRegistry>();
new Gauge({
  name: MetricName.PluginWorkers,
  help: 'Worker threads of each plugin version serving, by state (warm: parked for the next attempt, busy)',
  labelNames: ['plugin', 'state'],
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const { plugin, warm, busy } of [...scraped].flatMap((registry) => registry.workerCounts())) {
      this.inc({ plugin, state: 'warm' }, warm);
      this.inc({ plugin, state: 'busy' }, busy);
    }
  },
});

/** What the registry knows of one entry of PLUGINS_DIR / PLUGIN_PACKAGES. */
interface Known {
  entry: PluginEntry;
  /** Hash of the code last loaded (or last tried): unchanged files are not loaded again. */
  fingerprint: string;
  /** The version serving (its pool runs the attempts). */
  serving?: PluginAction;
  /** A plugin that never loaded, registered under its name so its steps fail with plugin_load_failed. */
  failed?: FailedPluginAction;
  /** A failure without a name of its own: listed, never runnable. */
  unnamedError?: string;
  /** The files changed and the new version did not load: `serving` keeps serving. */
  reloadError?: string;
}

/**
 * Discovers action plugins in PLUGINS_DIR and PLUGIN_PACKAGES when the executor starts (before the workflow registry
 * validates manifests against the action catalog), loads each in a worker to validate its definition, and registers
 * it with the ActionInvoker beside the built-ins; the loading worker stays warm in the version's pool. A plugin that
 * fails is reported (log, GET /api/plugins) and its steps fail with plugin_load_failed; the executor starts
 * regardless. Reload (`POST /api/plugins/reload`, a workflows reload, or a change under PLUGINS_DIR when
 * PLUGINS_WATCH) loads changed plugins again: a new version replaces the pool for new attempts while running ones
 * finish on their worker; a version that does not load leaves the one serving in place and says why.
 */
@Injectable()
export class PluginRegistry implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PluginRegistry.name);
  readonly host: PluginHost;
  private readonly known = new Map<string, Known>();
  private readonly loads = new SerialLoad((trigger: PluginReloadReport['trigger']) => this.load(trigger));
  private watcher?: { close(): void };

  constructor(
    private readonly config: WorkflowExecutorConfig,
    private readonly actions: ActionInvoker,
    private readonly secrets: WorkflowSecrets,
    private readonly workflows: WorkflowRegistry,
  ) {
    this.host = new PluginHost({
      forbiddenPaths: forbiddenPaths(config),
      maxMemoryMb: config.PLUGIN_MAX_MEMORY_MB,
      loadTimeoutMs: 10_000,
      resolveFrom: path.join(repositoryRoot() ?? process.cwd(), 'package.json'),
      poolSize: config.PLUGIN_POOL_SIZE,
      idleMs: config.PLUGIN_POOL_IDLE_MS,
      onWorkerStart: (entry) => workerStarts.inc({ plugin: this.known.get(keyOf(entry))?.serving?.name ?? nameOf(entry) ?? entry.label }),
    });
    scraped.add(this);
  }

  /** Warm and busy workers of each plugin serving (the pancha_plugin_workers gauge). */
  workerCounts(): { plugin: string; warm: number; busy: number }[] {
    return [...this.known.values()].flatMap((k) => (k.serving ? [{ plugin: k.serving.name, ...pick(k.serving.pool.stats()) }] : []));
  }

  async onModuleInit(): Promise<void> {
    await this.reload('start');
  }

  onApplicationBootstrap(): void {
    if (this.config.PLUGINS_WATCH) this.watch();
  }

  async onApplicationShutdown(): Promise<void> {
    this.watcher?.close();
    scraped.delete(this);
    await this.host.close();
  }

  /**
   * Loads new and changed plugins (by the hash of their code) and drops removed ones. A call while a reload runs
   * waits for it and then reloads once more (shared by every caller that arrives meanwhile).
   */
  reload(trigger: PluginReloadReport['trigger'] = 'request'): Promise<PluginReloadReport> {
    return this.loads.fresh(trigger);
  }

  /** Built-ins and plugins, loaded or failed. */
  list(): PluginView[] {
    const unnamed = [...this.known.values()].filter((k) => k.unnamedError !== undefined).map((k) => unnamedView(k.entry, k.unnamedError!));
    return [...this.actions.list().map((a) => this.view(a)), ...unnamed];
  }

  detail(name: string): PluginDetailView | undefined {
    const action = this.actions.get(name);
    if (!action) return undefined;
    return { ...this.view(action), input_schema: action.declaration.input ?? null, output_schema: action.declaration.output ?? null };
  }

  private view(action: ExecutorAction): PluginView {
    const base = toView(action);
    if (action instanceof PluginAction) {
      const known = this.known.get(keyOf(action.entry));
      const stats = action.pool.stats();
      return {
        ...base,
        loaded_at: action.loadedAt.toISOString(),
        reload_error: known?.serving === action ? (known.reloadError ?? null) : null,
        workers: { alive: stats.workers, warm: stats.idle, busy: stats.busy, started: stats.started, reused: stats.reused },
      };
    }
    if (action instanceof FailedPluginAction) return { ...base, loaded_at: action.loadedAt.toISOString(), reload_error: null, workers: null };
    return base;
  }

  private async load(trigger: PluginReloadReport['trigger']): Promise<PluginReloadReport> {
    const report: PluginReloadReport = { loaded_at: new Date().toISOString(), trigger, loaded: [], unchanged: 0, failed: [], removed: [] };
    const entries = [...discoverPluginFiles(this.config.pluginsDir), ...packagePluginEntries(this.config.pluginPackages)];
    const present = new Set(entries.map(keyOf));
    // Loaded in parallel: a plugin that hangs at load costs its timeout once, not once per plugin after it.
    const outcomes = await Promise.all(
      entries.map(async (entry) => {
        const known = this.known.get(keyOf(entry));
        if (known && known.fingerprint === this.host.fingerprint(entry)) return { entry, result: undefined };
        return { entry, result: await this.host.load(entry) };
      }),
    );
    for (const { entry, result } of outcomes) {
      if (!result) {
        // Unchanged files that still do not load are reported again: the report says what is on disk.
        const known = this.known.get(keyOf(entry))!;
        const error = known.reloadError ?? known.failed?.loadError ?? known.unnamedError;
        if (error === undefined) report.unchanged++;
        else report.failed.push({ file: entry.label, name: known.serving?.name ?? known.failed?.name ?? null, error, kept: known.serving?.version ?? null });
        continue;
      }
      const known = this.known.get(keyOf(entry)) ?? { entry, fingerprint: result.fingerprint };
      this.known.set(keyOf(entry), known);
      known.entry = entry;
      known.fingerprint = result.fingerprint;
      if (result.ok && this.taken(result.declaration.name, known)) {
        await result.pool.close();
        const owner = this.actions.get(result.declaration.name)!;
        this.failed(known, `an action named ${result.declaration.name} is already registered (${owner.file ?? owner.source})`, report);
      } else if (result.ok) {
        const action = new PluginAction(result.declaration, entry, result.pool, this.secrets, this.logger);
        const previous = known.serving;
        this.drop(known);
        if (this.actions.has(action.name)) this.actions.replace(action);
        else this.actions.register(action);
        known.serving = action;
        pluginLoads.inc({ source: entry.source, status: 'loaded' });
        report.loaded.push({ name: action.name, version: action.version, file: entry.label, ...(previous ? { previous: previous.version } : {}) });
        this.logger.log({
          msg: previous ? 'plugin reloaded: new attempts run the new version' : 'plugin loaded',
          plugin: action.name,
          version: action.version,
          previous: previous?.version,
          source: entry.source,
          file: entry.label,
        });
      } else {
        this.failed(known, result.error, report);
      }
    }
    for (const [key, known] of this.known) {
      if (present.has(key)) continue;
      const name = known.serving?.name ?? known.failed?.name;
      this.drop(known);
      this.known.delete(key);
      if (name) {
        report.removed.push({ name, file: known.entry.label });
        this.logger.log({ msg: 'plugin removed: new steps naming it fail with unknown_action', plugin: name, file: known.entry.label });
      }
    }
    return report;
  }

  /** The name is registered by a built-in or by another plugin entry. */
  private taken(name: string, known: Known): boolean {
    const action = this.actions.get(name);
    return action !== undefined && action !== known.serving && action !== known.failed;
  }

  /** Unregisters what an entry registered (its pool drains: running attempts finish first). */
  private drop(known: Known): void {
    for (const action of [known.serving, known.failed]) {
      if (action && this.actions.get(action.name) === action) this.actions.unregister(action.name);
    }
    if (known.serving) void known.serving.pool.close();
    known.serving = undefined;
    known.failed = undefined;
    known.unnamedError = undefined;
    known.reloadError = undefined;
  }

  private failed(known: Known, error: string, report: PluginReloadReport): void {
    const entry = known.entry;
    pluginLoads.inc({ source: entry.source, status: 'failed' });
    if (known.serving) {
      // An invalid edit never replaces a valid version: the one loaded before keeps serving.
      known.reloadError = error;
      report.failed.push({ file: entry.label, name: known.serving.name, error, kept: known.serving.version });
      this.logger.error({ msg: 'plugin failed to load; the version loaded before keeps serving', file: entry.label, plugin: known.serving.name, version: known.serving.version, error });
      return;
    }
    this.drop(known);
    const name = nameOf(entry);
    report.failed.push({ file: entry.label, name: name ?? null, error, kept: null });
    this.logger.error({ msg: 'plugin failed to load; skipped', file: entry.label, source: entry.source, error });
    if (name && !this.taken(name, known)) {
      known.failed = new FailedPluginAction(name, entry, error);
      this.actions.register(known.failed);
    } else {
      known.unnamedError = error;
    }
  }

  /**
   * Hot reload of plugins: a change under PLUGINS_DIR schedules one reload after WORKFLOWS_WATCH_DEBOUNCE_MS of
   * quiet; when the catalog of actions changed, the workflows are reloaded after it (a manifest refused for an
   * unknown action can register now).
   */
  private watch(): void {
    this.watcher = watchDirectory({
      dir: this.config.pluginsDir,
      what: 'plugins',
      recursive: true,
      accept: (file) => !file.split(path.sep).some((part) => part.startsWith('.') || part === 'node_modules'),
      debounceMs: this.config.WORKFLOWS_WATCH_DEBOUNCE_MS,
      onQuiet: async () => void (await this.reloadWithWorkflows('watch')),
      logger: this.logger,
    });
  }

  /** A plugin reload, then a workflows reload when actions came, changed or went. */
  async reloadWithWorkflows(trigger: 'request' | 'watch'): Promise<PluginReloadReport> {
    const report = await this.reload(trigger);
    if (report.loaded.length > 0 || report.removed.length > 0) await this.workflows.reload(trigger);
    return report;
  }
}

function pick(stats: { idle: number; busy: number }): { warm: number; busy: number } {
  return { warm: stats.idle, busy: stats.busy };
}

function keyOf(entry: PluginEntry): string {
  return `${entry.source}:${entry.entry}`;
}

function unnamedView(entry: PluginEntry, error: string): PluginView {
  return {
    name: entry.label,
    version: '0.0.0',
    source: entry.source,
    status: 'failed',
    description: null,
    retryable_codes: [],
    secrets: [],
    error,
    file: entry.source === 'directory' ? entry.label : null,
  };
}

function toView(action: ExecutorAction): PluginView {
  return {
    name: action.name,
    version: action.version,
    source: action.source,
    status: action.loadError ? 'failed' : 'loaded',
    description: action.declaration.description ?? null,
    retryable_codes: [...(action.declaration.retryableCodes ?? [])],
    secrets: [...(action.declaration.secrets ?? [])],
    error: action.loadError ?? null,
    file: action.file ?? null,
  };
}

/** `slack-webhook.js` → slack-webhook, `json-transform/index.js` → json-transform, `@acme/pancha-plugin-x` → x. */
function nameOf(entry: PluginEntry): string | undefined {
  const base =
    entry.source === 'package'
      ? entry.entry.split('/').pop()!.replace(/^pancha-plugin-/, '')
      : entry.label.includes(path.sep)
        ? entry.label.split(path.sep)[0]
        : entry.label.replace(/\.c?js$/, '');
  return PLUGIN_NAME_REGEX.test(base) ? base : undefined;
}

/** What no plugin may load or read: the executor's own code and build, and its keys and secrets files. */
function forbiddenPaths(config: WorkflowExecutorConfig): string[] {
  const root = repositoryRoot();
  const paths = root ? ['apps', 'libs', 'dist', 'tools', 'config', '.env'].map((d) => path.join(root, d)) : [];
  const settings = config as unknown as Record<string, string | undefined>;
  for (const key of ['PANCHA_KEYS_DIR', 'SERVICE_PRIVATE_KEY_FILE', 'PEER_PUBLIC_KEYS_DIR', 'WORKFLOW_SECRETS_FILE', 'PANCHA_POLICY_FILE']) {
    if (settings[key]) paths.push(path.resolve(settings[key]!));
  }
  return paths;
}

function repositoryRoot(): string | undefined {
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'node_modules'))) return dir;
  }
  return undefined;
}
