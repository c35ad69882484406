/** `pancha workflows list|show|enable|disable|reload|stats`: the executor's registry through Core's public API. */
import type { Command } from 'commander';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../cli-errors';
import { LOAD_REPORT, type LoadReport, WORKFLOW, WORKFLOW_LIST, WORKFLOW_STATS, WORKFLOW_VERSION } from '../core-answers';
import { formatFindingLine } from '../findings';
import { colours, duration, fields, percent, print, printJson, Progress, statusColour, table, when } from '../output';
import { coreClient, globals, query, seg, statsWindow } from './context';

export async function workflowsList(cmd: Command): Promise<number> {
  const res = await coreClient(cmd).get('/workflows', WORKFLOW_LIST);
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  if (res.workflows.length === 0) return print('no workflows registered'), EXIT_OK;
  print(
    table(
      ['NAME', 'STATE', 'DEFAULT', 'VERSIONS', 'LIVE RUNS', 'DESCRIPTION'],
      res.workflows.map((w) => [
        w.name,
        statusColour(w.enabled ? 'enabled' : 'disabled'),
        w.default_version,
        w.versions.map((v) => v.version + (v.retired ? ' (retired)' : v.deprecated ? ' (deprecated)' : '')).join(', '),
        w.versions.reduce((n, v) => n + v.live_runs, 0),
        w.description,
      ]),
    ),
  );
  return EXIT_OK;
}

export async function workflowsShow(ref: string, cmd: Command): Promise<number> {
  const at = ref.indexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const version = at < 0 ? undefined : ref.slice(at + 1);
  if (!name || version === '') throw new UsageError(`expected <name> or <name>@<version>, got "${ref}"`);
  const client = coreClient(cmd);
  if (version !== undefined) {
    const manifest = await client.get(`/workflows/${seg(name)}/versions/${seg(version)}`, WORKFLOW_VERSION);
    if (globals(cmd).json) return printJson(manifest), EXIT_OK;
    // A Core whose version view does not say whether the version is in the directory: the workflow's page does.
    const present = manifest.present ?? (await client.get(`/workflows/${seg(name)}`, WORKFLOW)).versions.find((v) => v.version === manifest.version)?.present;
    // Only this command needs the manifest library.
    (require('./manifest-view') as typeof import('./manifest-view')).printManifest(manifest, present);
    return EXIT_OK;
  }
  const w = await client.get(`/workflows/${seg(name)}`, WORKFLOW);
  if (globals(cmd).json) return printJson(w), EXIT_OK;
  print(
    fields([
      ['name', w.name],
      ['state', statusColour(w.enabled ? 'enabled' : 'disabled')],
      ['default version', w.default_version],
      ['description', w.description],
      ['setting', w.setting ? `${w.setting.enabled ? 'enabled' : 'disabled'} by ${w.setting.updated_by} at ${when(w.setting.updated_at)}${w.setting.reason ? ` (${w.setting.reason})` : ''}` : null],
    ]),
  );
  print('');
  print(
    table(
      ['VERSION', 'IN DIRECTORY', 'LIFECYCLE', 'LIVE RUNS', 'REGISTERED', 'FILE'],
      w.versions.map((v) => [
        v.version === w.default_version ? `${v.version} ${colours.cyan('(default)')}` : v.version,
        v.present ? 'yes' : 'no',
        lifecycle(v),
        v.live_runs,
        when(v.registered_at),
        v.file,
      ]),
    ),
  );
  return EXIT_OK;
}

export async function workflowsSetEnabled(name: string, enabled: boolean, opts: { reason?: string }, cmd: Command): Promise<number> {
  const w = await coreClient(cmd).post(`/workflows/${seg(name)}/${enabled ? 'enable' : 'disable'}`, WORKFLOW, opts.reason ? { reason: opts.reason } : {});
  if (globals(cmd).json) return printJson(w), EXIT_OK;
  const live = w.versions.reduce((n, v) => n + v.live_runs, 0);
  print(
    enabled
      ? `${w.name} ${statusColour('enabled')}: new runs start again`
      : `${w.name} ${statusColour('disabled')}: new runs are refused; ${live} run${live === 1 ? '' : 's'} in flight will finish`,
  );
  return EXIT_OK;
}

export async function workflowsReload(cmd: Command): Promise<number> {
  const progress = new Progress();
  progress.update('reloading the plugins and the workflows directory…');
  const report = await coreClient(cmd)
    .post('/workflows/reload', LOAD_REPORT)
    .finally(() => progress.done());
  const failed = report.refused.length > 0 || (report.plugins?.failed.length ?? 0) > 0 ? EXIT_FAILURE : EXIT_OK;
  if (globals(cmd).json) return printJson(report), failed;
  const plugins = report.plugins;
  for (const p of plugins?.loaded ?? []) {
    print(`${colours.green('plugin loaded')} ${p.name}@${p.version} (${p.file})${p.previous ? `, replacing ${p.previous} for new attempts` : ''}`);
  }
  for (const p of plugins?.failed ?? []) {
    print(`${colours.red('plugin failed')} ${p.file}: ${p.error}${p.kept ? ` (${p.name}@${p.kept} keeps serving)` : ''}`);
  }
  for (const p of plugins?.removed ?? []) print(`${colours.yellow('plugin removed')} ${p.name} (${p.file})`);
  for (const r of report.registered) print(`${colours.green('registered')} ${r.workflow}@${r.version}${r.file ? ` (${r.file})` : ''}`);
  for (const c of report.lifecycle ?? []) print(`${colours.yellow(lifecycleWord(c))} ${c.workflow}@${c.version}${c.file ? ` (${c.file})` : ''}`);
  for (const r of report.refused) {
    const kept = report.kept?.find((k) => k.file === r.file);
    print(`${colours.red('refused')} ${r.file}: ${kept ? `${kept.workflow}@${kept.version}, registered before, keeps serving` : 'nothing registered from it'}`);
    for (const f of r.findings) print(`  ${formatFindingLine({ ...f, file: f.file ?? r.file })}`);
  }
  const warnings = report.findings.filter((f) => f.severity !== 'error' && !report.refused.some((r) => r.findings.includes(f)));
  for (const f of warnings) print(formatFindingLine(f));
  print(`${report.registered.length} registered, ${report.unchanged} unchanged, ${report.refused.length} refused`);
  return failed;
}

export async function workflowsStats(name: string | undefined, opts: { window: string }, cmd: Command): Promise<number> {
  const client = coreClient(cmd);
  const res = await client.get(`/workflows/stats${query({ window: statsWindow(opts.window), name })}`, WORKFLOW_STATS);
  // Core counts the runs of any name it is given, known or not: no runs of a workflow it does not have is no answer
  // about that workflow. Its own page says whether it has it (a 404 unknown_workflow otherwise, as `show` gets).
  if (name !== undefined && res.workflows.length === 0) await client.get(`/workflows/${seg(name)}`, WORKFLOW);
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  print(colours.dim(`runs started since ${when(res.since)} (${res.window})`));
  if (res.workflows.length === 0) return print(name === undefined ? 'no runs in this window' : `no runs of ${name} in this window`), EXIT_OK;
  print(
    table(
      ['WORKFLOW', 'RUNS', 'BY STATUS', 'SUCCESS', 'P50', 'P95', 'SLOWEST STEP (P95)', 'RETRIES', 'LAST FAILURE'],
      res.workflows.map((s) => [
        `${s.name}@${s.version}`,
        s.total,
        Object.entries(s.runs)
          .filter(([, n]) => n > 0)
          .map(([status, n]) => `${statusColour(status)} ${n}`)
          .join(', '),
        percent(s.success_rate),
        duration(s.p50_ms),
        duration(s.p95_ms),
        s.slowest_step ? `${s.slowest_step.step_id} (${duration(s.slowest_step.p95_ms)})` : null,
        s.retries,
        s.last_failure ? `${when(s.last_failure.at)} ${s.last_failure.run_id.slice(0, 8)} ${s.last_failure.error}` : null,
      ]),
    ),
  );
  return EXIT_OK;
}

/**
 * A version's lifecycle as a start meets it: one no longer in the directory starts no new run (409 version_retired),
 * whatever its flags said when it was there.
 */
export function lifecycle(v: { present: boolean; retired: boolean; deprecated: boolean }): string {
  if (v.retired) return colours.red('retired');
  if (!v.present) return colours.red('retired (not in directory)');
  return v.deprecated ? colours.yellow('deprecated') : 'active';
}

/** What a load did to a version's lifecycle flags, in a word or two (`retired`, `deprecated`, `no longer retired`). */
function lifecycleWord(c: NonNullable<LoadReport['lifecycle']>[number]): string {
  if (c.retired !== c.was.retired) return c.retired ? 'retired' : 'no longer retired';
  return c.deprecated ? 'deprecated' : 'no longer deprecated';
}
