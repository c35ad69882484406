import { compileTemplate, renderTemplate, setMember } from './expressions';
import type { WorkflowManifest } from './manifest.types';
import { isValidVersion, majorOf, majorOfRange, resolveVersion } from './versions';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/**
 * Turns inputs written for an older major version into inputs of this manifest, with its `migrations['<major>.x']`
 * templates (their scope: `inputs` = the old inputs). The same major returns the inputs unchanged (the
 * compatibility layer guarantees a minor version accepts them). A key that renders to null is left out, so an
 * optional input can be carried over with `{{ inputs.?phone.orValue(null) }}`. Throws MigrationError.
 */
export function migrateInputs(manifest: WorkflowManifest, fromVersion: string, inputs: unknown): Record<string, unknown> {
  if (!isValidVersion(fromVersion)) throw new MigrationError(`"${fromVersion}" is not a version`);
  const from = majorOf(fromVersion);
  const to = majorOf(manifest.version);
  if (from === to) return (inputs ?? {}) as Record<string, unknown>;
  if (from > to) throw new MigrationError(`inputs for ${manifest.name}@${fromVersion} cannot be moved back to ${manifest.version}`);
  const key = `${from}.x`;
  const template = manifest.migrations[key];
  if (!template) {
    const known = Object.keys(manifest.migrations);
    throw new MigrationError(
      `${manifest.name}@${manifest.version} has no migration from ${key}${known.length > 0 ? ` (it has ${known.join(', ')})` : ''}: callers of ${fromVersion} must send ${to}.x inputs`,
    );
  }
  let rendered: unknown;
  try {
    rendered = renderTemplate(compileTemplate(template), { inputs: inputs ?? {} });
  } catch (error) {
    throw new MigrationError(`migration of ${manifest.name} from ${key} failed: ${(error as Error).message}`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(rendered as Record<string, unknown>)) if (value !== null && value !== undefined) setMember(out, name, value);
  return out;
}

/**
 * WORKFLOWS.md's migrations, for whatever names an old major (a start's requested version, a sub-workflow's range):
 * when no live version matches `range`, the newest live version of a later major that migrates inputs from the
 * range's major (`migrations['1.x']`) stands in, with `migrateFrom` (a version of that major, for migrateInputs).
 * Undefined when there is none, or when `range` spans more than one major.
 */
export function migrationHeir(
  range: string,
  versions: readonly { version: string; retired?: boolean; manifest?: { migrations?: Readonly<Record<string, unknown>> } }[],
): { version: string; migrateFrom: string } | undefined {
  const from = majorOfRange(range);
  if (from === undefined) return undefined;
  const heirs = versions.filter((v) => !v.retired && isValidVersion(v.version) && majorOf(v.version) > from && v.manifest?.migrations?.[`${from}.x`] !== undefined);
  const chosen = resolveVersion('*', heirs);
  return chosen ? { version: chosen, migrateFrom: `${from}.0.0` } : undefined;
}

/** What a sub-workflow reference means now: the newest live version `range` matches, else its migration heir. */
export function resolveOrMigrate(
  range: string,
  versions: readonly { version: string; retired?: boolean; manifest?: { migrations?: Readonly<Record<string, unknown>> } }[],
): { version: string; migrateFrom?: string } | undefined {
  const version = resolveVersion(range, versions);
  return version ? { version } : migrationHeir(range, versions);
}

/** The warning a run started through a migration carries (in a start's 202, and on the run). */
export function migrationWarning(workflow: string, requested: string, version: string, migrateFrom: string): string {
  return `no live version of ${workflow} matches ${requested}: started ${version} with the inputs migrated from ${majorOf(migrateFrom)}.x`;
}
