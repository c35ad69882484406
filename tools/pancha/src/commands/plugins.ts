/** `pancha plugins list|show`: the executor's action plugins (built-in and loaded) through Core. */
import type { Command } from 'commander';
import { EXIT_OK } from '../cli-errors';
import { PLUGIN, PLUGIN_LIST } from '../core-answers';
import { colours, fields, print, printJson, statusColour, table } from '../output';
import { coreClient, globals, seg } from './context';

export async function pluginsList(cmd: Command): Promise<number> {
  const res = await coreClient(cmd).get('/plugins', PLUGIN_LIST);
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  if (res.plugins.length === 0) return print('no plugins'), EXIT_OK;
  print(
    table(
      ['NAME', 'VERSION', 'SOURCE', 'STATUS', 'DESCRIPTION'],
      res.plugins.map((p) => [
        p.name,
        p.version,
        p.source,
        statusColour(p.status),
        p.status === 'failed'
          ? colours.red(p.error ?? '')
          : p.reload_error
            ? colours.yellow(`reload failed, ${p.version} keeps serving: ${p.reload_error}`)
            : p.description,
      ]),
    ),
  );
  return EXIT_OK;
}

export async function pluginsShow(name: string, cmd: Command): Promise<number> {
  const p = await coreClient(cmd).get(`/plugins/${seg(name)}`, PLUGIN);
  if (globals(cmd).json) return printJson(p), EXIT_OK;
  print(
    fields([
      ['name', `${p.name}@${p.version}`],
      ['source', p.source],
      ['status', statusColour(p.status)],
      ['description', p.description],
      ['file', p.file],
      ['retryable codes', p.retryable_codes.join(', ')],
      ['secrets', p.secrets.join(', ')],
      ['error', p.error],
      ['loaded at', p.loaded_at ?? null],
      ['reload error', p.reload_error ? colours.yellow(`${p.reload_error} (${p.version} keeps serving)`) : null],
      ['workers', p.workers ? `${p.workers.alive} alive (${p.workers.warm} warm, ${p.workers.busy} busy); ${p.workers.started} started, ${p.workers.reused} attempts reused one` : null],
    ]),
  );
  for (const [title, schema] of [['input', p.input_schema], ['output', p.output_schema]] as const) {
    print('');
    // A plugin that declares no schema (the built-in actions check their own fields): said so, not printed as `null`.
    if (schema === null || schema === undefined) {
      print(`${colours.bold(`${title} schema`)}  none declared`);
      continue;
    }
    print(colours.bold(`${title} schema`));
    print(JSON.stringify(schema, null, 2));
  }
  return EXIT_OK;
}
