/** `pancha workflows generate --name <n> [--from <template>]`: a skeleton that validates and whose tests pass. */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { isMap, parseDocument } from 'yaml';
import { checkWorkflowFiles, listWorkflowFiles } from '@pancha/workflow-engine';
import { checkManifest, WORKFLOW_NAME_PATTERN } from '@pancha/workflow-manifest';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../cli-errors';
import { formatFindingLine } from '../findings';
import { print, printJson } from '../output';
import { defaultWorkflowsDir, loadPluginActions, offlineContext } from './offline';
import { HEADER, TEMPLATES } from './templates';

export async function workflowsGenerate(opts: { name?: string; from: string; dir?: string; force?: boolean; stdout?: boolean }, cmd: Command): Promise<number> {
  const name = opts.name;
  if (!name || !WORKFLOW_NAME_PATTERN.test(name)) throw new UsageError('--name must be a workflow name: lower-case letters, digits and hyphens');
  let text: string;
  const template = TEMPLATES[opts.from];
  if (template) text = HEADER(name) + template.body(name);
  else if (/\.ya?ml$/.test(opts.from) && existsSync(opts.from) && statSync(opts.from).isFile()) {
    // An existing manifest as the template: renamed, version reset, its tests kept.
    const doc = parseDocument(readFileSync(opts.from, 'utf8'));
    const [problem] = doc.errors;
    if (problem) throw new UsageError(`--from ${opts.from} is not valid YAML: ${problem.message.split('\n')[0]}`);
    if (!isMap(doc.contents)) throw new UsageError(`--from ${opts.from} is not a manifest: its top level must be a mapping (name, version, steps, …)`);
    doc.set('name', name);
    doc.set('version', '0.1.0');
    for (const key of ['deprecated', 'retired', 'migrations']) doc.delete(key);
    text = doc.toString();
  } else {
    throw new UsageError(`--from must be one of ${Object.keys(TEMPLATES).join(', ')} or an existing manifest file, got "${opts.from}"`);
  }
  await loadPluginActions({});
  if (opts.stdout) {
    process.stdout.write(text);
    const alone = checkManifest(text, offlineContext({}), { file: `${name}.yaml`, expectedName: name }).findings;
    return alone.some((f) => f.severity === 'error') ? EXIT_FAILURE : EXIT_OK;
  }
  const dir = opts.dir ?? defaultWorkflowsDir();
  const file = path.join(dir, `${name}.yaml`);
  if (existsSync(file) && !opts.force) throw new UsageError(`${file} exists; choose another --name or pass --force`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  // Checked as part of its set (the directory it joins, and the copied manifest's own), so sub-workflows resolve.
  const neighbours = new Map<string, string>();
  for (const f of listWorkflowFiles([...(template ? [] : [path.dirname(opts.from)]), dir])) if (path.basename(f) !== `${name}.yaml`) neighbours.set(path.basename(f), f);
  const checked = checkWorkflowFiles([...neighbours.values(), file], offlineContext({})).find((c) => c.file === file) ?? { findings: [] };
  const errors = checked.findings.filter((f) => f.severity === 'error');
  const json = cmd.optsWithGlobals<{ json?: boolean }>().json;
  if (json) printJson({ file, workflow: `${name}@0.1.0`, findings: checked.findings });
  else {
    print(`wrote ${path.relative(process.cwd(), file) || file}`);
    for (const f of checked.findings) print(formatFindingLine(f));
    print('next: edit the TODOs, then `npx pancha workflows validate` and `npx pancha workflows test ' + name + '`');
  }
  return errors.length > 0 ? EXIT_FAILURE : EXIT_OK;
}
