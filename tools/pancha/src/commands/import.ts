/** `pancha workflows import <file>`: DreamNet JSON or TriggerMesh YAML → Pancha manifests, saying what was left out. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml, stringify } from 'yaml';
import { checkManifest, type Finding } from '@pancha/workflow-manifest';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../cli-errors';
import { formatFindingLine } from '../findings';
import { importDreamNet } from '../import/dreamnet';
import type { ImportedWorkflow } from '../import/import-common';
import { importTriggerMesh } from '../import/triggermesh';
import { colours, print, printJson } from '../output';
import { globals } from './context';
import { defaultWorkflowsDir, loadPluginActions, offlineContext } from './offline';

export function detectAndImport(file: string, text: string, format: string | undefined): { format: 'dreamnet' | 'triggermesh'; workflows: ImportedWorkflow[] } {
  let doc: unknown;
  try {
    doc = file.endsWith('.json') || format === 'dreamnet' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new UsageError(`${file}: cannot be read as ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object') throw new UsageError(`${file}: not a workflow definition (expected a JSON or YAML mapping)`);
  const d = doc as Record<string, unknown>;
  const looksTriggerMesh = Array.isArray(doc) || 'trigger' in d || 'actions' in d || 'workflows' in d;
  const chosen = format ?? (looksTriggerMesh ? 'triggermesh' : 'dreamnet');
  if (chosen === 'triggermesh') return { format: 'triggermesh', workflows: importTriggerMesh(doc) };
  if (chosen === 'dreamnet') return { format: 'dreamnet', workflows: [importDreamNet(d)] };
  throw new UsageError('--format must be dreamnet or triggermesh');
}

export async function workflowsImport(file: string, opts: { format?: string; out?: string; stdout?: boolean; force?: boolean; actions?: string }, cmd: Command): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const { format, workflows } = detectAndImport(file, text, opts.format);
  const outDir = opts.out ?? defaultWorkflowsDir();
  await loadPluginActions({ dir: opts.out });
  const results = workflows.map((w) => {
    const header = [`Imported from ${path.basename(file)} (${format}) by \`npx pancha workflows import\`.`, ...(w.notes.length > 0 ? ['Not carried over / to check:', ...w.notes.map((n) => `- ${n}`)] : [])];
    const yaml = `${header.map((l) => `# ${l}`).join('\n')}\n${stringify(w.manifest, { lineWidth: 0 })}`;
    const findings: Finding[] = checkManifest(yaml, offlineContext({ actions: opts.actions }), { file: `${w.name}.yaml`, expectedName: w.name }).findings;
    return { ...w, yaml, findings, target: path.join(outDir, `${w.name}.yaml`) };
  });
  const invalid = results.some((r) => r.findings.some((f) => f.severity === 'error'));
  if (opts.stdout) {
    process.stdout.write(results.map((r) => r.yaml).join('---\n'));
  } else {
    for (const r of results) if (existsSync(r.target) && !opts.force) throw new UsageError(`${r.target} exists; pass --force or --out <dir>`);
    mkdirSync(outDir, { recursive: true });
    for (const r of results) writeFileSync(r.target, r.yaml);
  }
  if (globals(cmd).json) {
    printJson({ format, workflows: results.map((r) => ({ name: r.name, file: opts.stdout ? null : r.target, notes: r.notes, findings: r.findings })) });
    return invalid ? EXIT_FAILURE : EXIT_OK;
  }
  const log = opts.stdout ? (l: string) => process.stderr.write(`${l}\n`) : print;
  for (const r of results) {
    if (!opts.stdout) log(`wrote ${path.relative(process.cwd(), r.target) || r.target} (${format})`);
    for (const n of r.notes) log(`  ${colours.yellow('note:')} ${n}`);
    for (const f of r.findings) log(`  ${formatFindingLine(f)}`);
  }
  return invalid ? EXIT_FAILURE : EXIT_OK;
}
