/**
 * The offline workflow commands: `validate`, `test`, `docs`. They read manifest files only (no service, no
 * database), with the same parser, validation layers, set checks and engine the registry and executor use.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { checkWorkflowFiles, type CheckedWorkflowFile, listWorkflowFiles, type ManifestTestResult, runWorkflowSetTests } from '@pancha/workflow-engine';
import { discoverPluginFiles, PluginHost } from '@pancha/plugin-sdk';
import { applyValidationMode, BUILTIN_ACTIONS, type ValidationContext, type ValidationMode } from '@pancha/workflow-manifest';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../cli-errors';
import { renderWorkflowDoc } from '../docs/workflow-docs';
import { formatFindingLine } from '../findings';
import { colours, duration, print, printJson, Progress } from '../output';
import { repoRoot } from '../repo';
import { globals } from './context';

export interface SetOptions {
  dir?: string;
  actions?: string;
  httpHosts?: string;
  pluginsDir?: string;
}

/** workflows/ under the current directory when there is one, else the repository's. */
export function defaultWorkflowsDir(): string {
  const here = path.resolve('workflows');
  return existsSync(here) ? here : path.join(repoRoot(), 'workflows');
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The action plugins a set may use: --plugins-dir, else PLUGINS_DIR, else plugins/ beside workflows/ (or the repository's). */
function pluginsDir(opts: SetOptions): string {
  if (opts.pluginsDir) return path.resolve(opts.pluginsDir);
  if (process.env.PLUGINS_DIR) return path.resolve(process.env.PLUGINS_DIR);
  const beside = path.join(path.dirname(path.resolve(opts.dir ?? defaultWorkflowsDir())), 'plugins');
  return existsSync(beside) ? beside : path.join(repoRoot(), 'plugins');
}

const pluginActions = new Map<string, { inputSchema?: Record<string, unknown> }>();

/**
 * Declares the plugins' actions (with their input schemas) to the offline checks, exactly as the executor sees
 * them: each plugin is described in the same fenced worker the executor loads it in. A plugin that fails to load
 * is left out, so a workflow using it gets the same unknown-action finding the executor's registry would give.
 */
export async function loadPluginActions(opts: SetOptions): Promise<void> {
  const entries = discoverPluginFiles(pluginsDir(opts));
  if (entries.length === 0) return;
  const host = new PluginHost({ forbiddenPaths: [], maxMemoryMb: 64, loadTimeoutMs: 20_000 });
  for (const entry of entries) {
    const described = await host.describe(entry);
    if (described.ok) pluginActions.set(described.declaration.name, { inputSchema: described.declaration.input });
    else process.stderr.write(`pancha: plugin ${entry.label} not loaded: ${described.error}\n`);
  }
}

/** Built-in actions, the plugins (after loadPluginActions) and the ones named; the http allow-list from the option or WORKFLOW_HTTP_ALLOWED_HOSTS. */
export function offlineContext(opts: SetOptions): ValidationContext {
  const actions = new Map<string, object>([...BUILTIN_ACTIONS, ...list(opts.actions)].map((a) => [a, {}]));
  for (const [name, action] of pluginActions) actions.set(name, action);
  const hosts = opts.httpHosts ?? process.env.WORKFLOW_HTTP_ALLOWED_HOSTS;
  return { actions, policyHttpHosts: hosts === undefined || hosts.trim() === '' ? undefined : list(hosts) };
}

/** Paths shown relative to the current directory, as a compiler does. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

async function loadSet(paths: string[], opts: SetOptions, progress?: Progress): Promise<CheckedWorkflowFile[]> {
  await loadPluginActions(opts);
  const files = listWorkflowFiles(paths.length > 0 ? paths : [opts.dir ?? defaultWorkflowsDir()]).map(shown);
  if (files.length === 0) throw new UsageError(`no workflow files (*.yaml) in ${paths.join(' ') || opts.dir || defaultWorkflowsDir()}`);
  progress?.update(`checking ${files.length} file${files.length === 1 ? '' : 's'}…`);
  return checkWorkflowFiles(files, offlineContext(opts));
}

export async function workflowsValidate(paths: string[], opts: SetOptions & { mode: string }, cmd: Command): Promise<number> {
  if (!['strict', 'permissive', 'audit'].includes(opts.mode)) throw new UsageError('--mode must be strict, permissive or audit');
  const progress = new Progress();
  const checked = await loadSet(paths, opts, progress);
  progress.done();
  const verdicts = checked.map((c) => ({ c, ...applyValidationMode(c.findings, opts.mode as ValidationMode) }));
  const errors = verdicts.reduce((n, v) => n + v.findings.filter((f) => f.severity === 'error').length, 0);
  const warnings = verdicts.reduce((n, v) => n + v.findings.filter((f) => f.severity === 'warning').length, 0);
  const failed = verdicts.some((v) => !v.accepted || !v.c.manifest) ? EXIT_FAILURE : EXIT_OK;
  if (globals(cmd).json) {
    printJson({
      ok: failed === EXIT_OK,
      mode: opts.mode,
      errors,
      warnings,
      files: verdicts.map((v) => ({ file: v.c.file, workflow: v.c.manifest ? `${v.c.manifest.name}@${v.c.manifest.version}` : null, accepted: v.accepted && !!v.c.manifest, findings: v.findings })),
    });
    return failed;
  }
  for (const v of verdicts) for (const f of v.findings) print(formatFindingLine(f));
  const summary = `${checked.length} file${checked.length === 1 ? '' : 's'}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} (${opts.mode})`;
  print(failed === EXIT_OK ? colours.green(summary) : colours.red(summary));
  return failed;
}

export async function workflowsTest(name: string | undefined, opts: SetOptions, cmd: Command): Promise<number> {
  const progress = new Progress();
  const checked = await loadSet([], opts, progress);
  const broken = checked.filter((c) => !c.manifest);
  const manifests = checked.flatMap((c) => (c.manifest ? [c.manifest] : []));
  if (name !== undefined && !manifests.some((m) => m.name === name)) {
    progress.done();
    throw new UsageError(`no workflow named ${name} in ${opts.dir ?? defaultWorkflowsDir()}`);
  }
  const selected = manifests.filter((m) => name === undefined || m.name === name);
  const json = globals(cmd).json;
  let done = 0;
  const results: ManifestTestResult[] = await runWorkflowSetTests(manifests, {
    only: (m) => selected.includes(m),
    onManifest: (m, own) => {
      done++;
      progress.done();
      if (!json) for (const r of own) printResult(r);
      if (own.length === 0 && !json) print(colours.yellow(`- ${m.name}@${m.version}: no tests`));
      progress.update(`testing ${done}/${selected.length} workflows…`);
    },
  });
  progress.done();
  const failedCases = results.filter((r) => !r.passed);
  const failed = failedCases.length > 0 || (name === undefined && broken.length > 0) ? EXIT_FAILURE : EXIT_OK;
  if (json) {
    printJson({ ok: failed === EXIT_OK, passed: results.length - failedCases.length, failed: failedCases.length, unreadable: broken.map((b) => ({ file: b.file, findings: b.findings })), results });
    return failed;
  }
  if (name === undefined) for (const b of broken) for (const f of b.findings.filter((x) => x.severity === 'error')) print(formatFindingLine(f));
  const summary = `${results.length - failedCases.length} passed, ${failedCases.length} failed (${selected.length} workflow${selected.length === 1 ? '' : 's'})`;
  print(failed === EXIT_OK ? colours.green(summary) : colours.red(summary));
  return failed;
}

function printResult(r: ManifestTestResult): void {
  const head = `${r.workflow}@${r.version} › ${r.name} ${colours.dim(`(${duration(r.durationMs)})`)}`;
  print(r.passed ? `${colours.green('✓')} ${head}` : `${colours.red('✗')} ${head}`);
  for (const f of r.failures) print(`    ${f}`);
}

export async function workflowsDocs(name: string | undefined, opts: SetOptions & { out?: string; check?: boolean }, cmd: Command): Promise<number> {
  const checked = await loadSet([], opts);
  const manifests = checked.flatMap((c) => (c.manifest ? [{ manifest: c.manifest, file: c.file }] : []));
  const selected = manifests.filter((m) => name === undefined || m.manifest.name === name);
  if (name !== undefined && selected.length === 0) throw new UsageError(`no workflow named ${name} in ${opts.dir ?? defaultWorkflowsDir()}`);
  const outDir = path.resolve(opts.out ?? path.join(repoRoot(), 'docs', 'workflows'));
  const pages = selected.map(({ manifest, file }) => ({
    workflow: manifest.name,
    file: path.join(outDir, `${manifest.name}.md`),
    text: renderWorkflowDoc(manifest, { sourceFile: path.relative(repoRoot(), path.resolve(file)) }),
  }));
  const stale = pages.filter((p) => !existsSync(p.file) || readFileSync(p.file, 'utf8') !== p.text);
  // A file that does not load has no page to check: the set is not documented, so neither mode passes.
  const broken = name === undefined ? checked.filter((c) => !c.manifest) : [];
  const json = globals(cmd).json;
  if (!json) for (const b of broken) for (const f of b.findings.filter((x) => x.severity === 'error')) print(formatFindingLine(f));
  const unreadable = broken.map((b) => ({ file: b.file, findings: b.findings }));
  if (opts.check) {
    const ok = stale.length === 0 && broken.length === 0;
    if (json) printJson({ ok, stale: stale.map((p) => shown(p.file)), unreadable });
    else for (const p of stale) print(`${shown(p.file)}: stale; run \`npx pancha workflows docs${name ? ` ${name}` : ''}\` and commit it`);
    if (!json) {
      const summary = `${pages.length - stale.length} of ${pages.length} page${pages.length === 1 ? '' : 's'} up to date${broken.length ? `, ${broken.length} file${broken.length === 1 ? '' : 's'} not loaded` : ''}`;
      print(ok ? colours.green(summary) : colours.red(summary));
    }
    return ok ? EXIT_OK : EXIT_FAILURE;
  }
  mkdirSync(outDir, { recursive: true });
  for (const p of stale) writeFileSync(p.file, p.text);
  if (json) printJson({ written: stale.map((p) => shown(p.file)), unchanged: pages.length - stale.length, unreadable });
  else {
    for (const p of stale) print(`wrote ${shown(p.file)}`);
    print(`${stale.length} written, ${pages.length - stale.length} unchanged${broken.length ? `, ${broken.length} file${broken.length === 1 ? '' : 's'} not loaded` : ''}`);
  }
  return broken.length === 0 ? EXIT_OK : EXIT_FAILURE;
}
