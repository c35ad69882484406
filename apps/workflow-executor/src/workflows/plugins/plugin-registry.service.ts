import { existsSync } from 'node:fs';
import path from 'node:path';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { PluginDetailView, PluginView } from '@pancha/contracts';
import { discoverPluginFiles, type PluginEntry, PluginHost, packagePluginEntries, PLUGIN_NAME_REGEX } from '@pancha/plugin-sdk';
import { Counter } from 'prom-client';
import { metricsRegistry } from '@pancha/service-kit';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { ActionInvoker, type ExecutorAction } from '../engine/action-invoker.service';
import { WorkflowSecrets } from '../registry/workflow-secrets';
import { FailedPluginAction, PluginAction } from './plugin.action';

const pluginLoads = new Counter({
  name: 'pancha_plugin_loads_total',
  help: 'Plugin loads at executor start, by source and result (loaded, failed)',
  labelNames: ['source', 'status'],
  registers: [metricsRegistry],
});

/**
 * Discovers action plugins in PLUGINS_DIR and PLUGIN_PACKAGES when the executor starts (before the workflow registry
 * validates manifests against the action catalog), loads each in a worker to validate its definition, and registers
 * it with the ActionInvoker beside the built-ins. A plugin that fails is reported (log, GET /api/plugins) and its
 * steps fail with plugin_load_failed; the executor starts regardless.
 */
@Injectable()
export class PluginRegistry implements OnModuleInit {
  private readonly logger = new Logger(PluginRegistry.name);
  readonly host: PluginHost;

  constructor(
    private readonly config: WorkflowExecutorConfig,
    private readonly actions: ActionInvoker,
    private readonly secrets: WorkflowSecrets,
  ) {
    this.host = new PluginHost({
      forbiddenPaths: forbiddenPaths(config),
      maxMemoryMb: config.PLUGIN_MAX_MEMORY_MB,
      loadTimeoutMs: 10_000,
      resolveFrom: path.join(repositoryRoot() ?? process.cwd(), 'package.json'),
    });
  }

  async onModuleInit(): Promise<void> {
    const entries = [...discoverPluginFiles(this.config.pluginsDir), ...packagePluginEntries(this.config.pluginPackages)];
    // Loaded in parallel: a plugin that hangs at load costs its timeout once, not once per plugin after it.
    const described = await Promise.all(entries.map(async (entry) => ({ entry, result: await this.host.describe(entry) })));
    for (const { entry, result } of described) {
      if (result.ok && this.actions.has(result.declaration.name)) {
        this.failed(entry, `an action named ${result.declaration.name} is already registered (${this.actions.get(result.declaration.name)!.source})`, undefined);
      } else if (result.ok) {
        this.actions.register(new PluginAction(result.declaration, entry, this.host, this.secrets, this.logger));
        pluginLoads.inc({ source: entry.source, status: 'loaded' });
        this.logger.log({ msg: 'plugin loaded', plugin: result.declaration.name, version: result.declaration.version, source: entry.source, file: entry.label });
      } else {
        this.failed(entry, result.error, nameOf(entry));
      }
    }
  }

  /** Built-ins and plugins, loaded or failed. */
  list(): PluginView[] {
    return [...this.actions.list().map(toView), ...this.listUnnamed()];
  }

  detail(name: string): PluginDetailView | undefined {
    const action = this.actions.get(name);
    if (!action) return undefined;
    return { ...toView(action), input_schema: action.declaration.input ?? null, output_schema: action.declaration.output ?? null };
  }

  private failed(entry: PluginEntry, error: string, name: string | undefined): void {
    pluginLoads.inc({ source: entry.source, status: 'failed' });
    this.logger.error({ msg: 'plugin failed to load; skipped', file: entry.label, source: entry.source, error });
    const registeredName = name && !this.actions.has(name) ? name : undefined;
    if (registeredName) this.actions.register(new FailedPluginAction(registeredName, entry, error));
    else this.unnamed.push({ entry, error });
  }

  /** Failures that could not keep a name of their own (taken, or not a valid action name): listed, never runnable. */
  private readonly unnamed: { entry: PluginEntry; error: string }[] = [];

  /** The unnamed failures as views (name: the file or package). */
  private listUnnamed(): PluginView[] {
    return this.unnamed.map(({ entry, error }) => ({
      name: entry.label,
      version: '0.0.0',
      source: entry.source,
      status: 'failed',
      description: null,
      retryable_codes: [],
      secrets: [],
      error,
      file: entry.source === 'directory' ? entry.label : null,
    }));
  }
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
