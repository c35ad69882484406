import { compareVersions, isValidVersion, migrationHeir, resolveVersion } from '@pancha/workflow-manifest';
import semver from 'semver';

/** A workflow as far as starting a run is concerned (the executor's registry and Core's mirror both have this). */
export interface StartableWorkflow {
  name: string;
  enabled: boolean;
  /** `manifest.migrations`: the older majors (`1.x`) whose inputs the version takes, migrated. */
  versions: readonly { version: string; present: boolean; retired: boolean; manifest?: { migrations?: Readonly<Record<string, unknown>> } }[];
}

export type StartRefusal = 'unknown_workflow' | 'unknown_version' | 'workflow_disabled' | 'version_retired';

/**
 * `migrateFrom` (a version of the requested major, for migrateInputs): the request named a version no live one
 * matches, and the chosen one, of a later major, carries a migration of its inputs.
 */
export type StartChoice = { ok: true; version: string; migrateFrom?: string } | { ok: false; reason: StartRefusal; message: string };

/** Most versions a `version_retired` refusal names (newest first); the rest are counted. */
const NAMED_VERSIONS = 10;

/**
 * Which version a new run gets: without `requested`, the newest version present in the workflows directory and
 * not retired; with it, that exact version or the newest matching a semver range, among the versions present.
 * Disabled workflows and retired versions start nothing, and a version no longer in the directory is retired as
 * far as new runs go (its in-flight runs, and their sub-workflows pinned to it, finish: they are not started
 * here). One function, so the executor and Core's mirror can never disagree.
 *
 * The refusals: `unknown_workflow`; `workflow_disabled`; `version_retired` when what was asked matches registered
 * versions and none of them can start (the exact one, or every one a range matches, or every one in the directory
 * when nothing was asked, is retired or no longer in the workflows directory: the message names them); and
 * `unknown_version` when it matches none (a range no registered version satisfies, or a workflow with no version
 * left in the directory).
 */
export function chooseStartVersion(workflow: StartableWorkflow | undefined, name: string, requested?: string): StartChoice {
  if (!workflow || workflow.versions.length === 0) return { ok: false, reason: 'unknown_workflow', message: `no workflow named ${name}` };
  if (!workflow.enabled) return { ok: false, reason: 'workflow_disabled', message: `workflow ${name} is disabled` };
  if (requested === undefined) {
    // Without a version asked for, only the directory's versions are what the caller meant ("the newest one there").
    const present = workflow.versions.filter((v) => v.present);
    const chosen = resolveVersion('*', present);
    if (chosen) return { ok: true, version: chosen };
    return (
      unstartable(name, undefined, present) ?? { ok: false, reason: 'unknown_version', message: `no version of ${name} is in the workflows directory` }
    );
  }
  const exact = workflow.versions.find((v) => v.version === requested);
  if (exact) {
    if (!exact.retired && exact.present) return { ok: true, version: exact.version };
    const why = exact.retired ? 'is retired' : 'is retired: no longer in the workflows directory';
    return migrated(workflow, requested) ?? { ok: false, reason: 'version_retired', message: `${name}@${requested} ${why}` };
  }
  let chosen: string | undefined;
  try {
    chosen = resolveVersion(requested, workflow.versions.filter((v) => v.present));
  } catch {
    chosen = undefined;
  }
  if (chosen) return { ok: true, version: chosen };
  return (
    migrated(workflow, requested) ??
    unstartable(name, requested, workflow.versions) ?? { ok: false, reason: 'unknown_version', message: `no version of ${name} matches ${requested}` }
  );
}

/**
 * WORKFLOWS.md's migrations: callers of an old major move without a change. When nothing live matches `requested`,
 * the newest version in the directory, not retired, of a later major whose manifest migrates inputs from the
 * requested major (`migrations['1.x']`) runs instead, its inputs migrated.
 */
function migrated(workflow: StartableWorkflow, requested: string): StartChoice | undefined {
  const heir = migrationHeir(requested, workflow.versions.filter((v) => v.present));
  return heir ? { ok: true, ...heir } : undefined;
}

/**
 * A range (or nothing asked: the versions in the directory) that found no version to start while registered versions
 * match it: each of them is retired or gone from the workflows directory (replaced or deleted), as an exact version
 * in either state is. A 409 `version_retired` naming them, newest first (at most NAMED_VERSIONS), each gone one
 * marked so; undefined when no registered version matches (then it is a 404 `unknown_version`).
 */
function unstartable(name: string, requested: string | undefined, candidates: StartableWorkflow['versions']): StartChoice | undefined {
  const range = requested ?? '*';
  const matching = candidates
    .filter((v) => {
      if (!isValidVersion(v.version)) return false;
      try {
        return semver.satisfies(v.version, range);
      } catch {
        return false;
      }
    })
    .sort((a, b) => compareVersions(b.version, a.version));
  if (matching.length === 0) return undefined;
  const named = matching.slice(0, NAMED_VERSIONS).map((v) => `${v.version}${v.present ? '' : ' (no longer in the workflows directory)'}`);
  const more = matching.length > named.length ? ` and ${matching.length - named.length} more` : '';
  const asked = requested === undefined ? `every version of ${name} in the workflows directory` : `every version of ${name} matching ${requested}`;
  const way = matching.some((v) => v.retired) ? 'start a live version, or un-retire one' : 'start a version in the workflows directory, or put the file back';
  return { ok: false, reason: 'version_retired', message: `${asked} is retired: ${named.join(', ')}${more}; no new runs start (${way})` };
}
