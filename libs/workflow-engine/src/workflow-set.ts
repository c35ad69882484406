/**
 * A set of workflow manifest files checked and tested together, offline: what `pancha workflows validate|test`
 * and `npm test` (the shipped examples) run, so both judge a workflows directory the same way the registry does
 * (per-file layers, then the set checks: sub-workflow refs, cycles, versions within the set).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  type Finding,
  type ManifestSource,
  parseManifest,
  resolveOrMigrate,
  type ValidationContext,
  validateWorkflowSet,
  type WorkflowManifest,
} from '@pancha/workflow-manifest';
import { type ManifestTestOptions, type ManifestTestResult, runManifestTests } from './manifest-tests';

export interface CheckedWorkflowFile {
  /** As given (shown in findings). */
  file: string;
  /** Undefined when the file did not parse (its findings say why). */
  manifest?: WorkflowManifest;
  source?: ManifestSource;
  /** Every layer's findings for this file, the set checks included. */
  findings: Finding[];
}

/** `*.yaml` / `*.yml` files of a directory (not recursive, sorted), or the paths given when they are files. */
export function listWorkflowFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      out.push(p); // reported as unreadable by checkWorkflowFiles
      continue;
    }
    if (!isDir) out.push(p);
    else out.push(...readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(p, f)));
  }
  return out;
}

/**
 * Parses each file (its basename must be the manifest's name) and validates the ones that parse as one set.
 * `ctx.versionsOf` may add registered versions beyond the set.
 */
export function checkWorkflowFiles(files: readonly string[], ctx: ValidationContext): CheckedWorkflowFile[] {
  const checked: CheckedWorkflowFile[] = files.map((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      return { file, findings: [{ layer: 'syntax', severity: 'error', code: 'unreadable_file', message: `cannot read: ${(error as Error).message}`, file, path: '' }] };
    }
    const { manifest, source, findings } = parseManifest(text, { file, expectedName: path.basename(file).replace(/\.ya?ml$/, '') });
    return { file, manifest, source, findings };
  });
  const parsed = checked.filter((c) => c.manifest !== undefined);
  const setFindings = validateWorkflowSet(parsed.map((c) => ({ manifest: c.manifest!, source: c.source })), ctx);
  for (const c of parsed) {
    // Two files with one name@version share a key: each finding names its own file, so split them back.
    const key = `${c.manifest!.name}@${c.manifest!.version}`;
    c.findings.push(...(setFindings.get(key) ?? []).filter((f) => f.file === undefined || f.file === c.file));
  }
  return checked;
}

/** name → versions known in the set: the sub-workflow lookups a test needs to run children for real. */
export function workflowSetTestOptions(manifests: readonly WorkflowManifest[]): ManifestTestOptions {
  const byName = new Map<string, WorkflowManifest[]>();
  for (const m of manifests) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
  return {
    manifestOf: (name, version) => byName.get(name)?.find((m) => m.version === version),
    resolve: (name, range) => {
      const versions = byName.get(name);
      if (!versions) return undefined;
      return resolveOrMigrate(range, versions.map((m) => ({ version: m.version, retired: m.retired, manifest: m })))?.version;
    },
  };
}

export interface WorkflowSetTestOptions {
  /** Only these workflows' own tests (the others still serve as sub-workflows). */
  only?: (manifest: WorkflowManifest) => boolean;
  /** Called as each manifest's cases finish (progress). */
  onManifest?(manifest: WorkflowManifest, results: ManifestTestResult[]): void;
}

/** Runs the `tests:` cases of every manifest in the set (or those `only` keeps), sub-workflows resolved in the set. */
export async function runWorkflowSetTests(manifests: readonly WorkflowManifest[], options: WorkflowSetTestOptions = {}): Promise<ManifestTestResult[]> {
  const testOptions = workflowSetTestOptions(manifests);
  const results: ManifestTestResult[] = [];
  for (const manifest of manifests) {
    if (options.only && !options.only(manifest)) continue;
    const own = await runManifestTests(manifest, testOptions);
    options.onManifest?.(manifest, own);
    results.push(...own);
  }
  return results;
}
