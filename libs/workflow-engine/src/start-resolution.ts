import { migrationHeir, resolveVersion } from '@pancha/workflow-manifest';

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

/**
 * Which version a new run gets: without `requested`, the newest version present in the workflows directory and
 * not retired; with it, that exact version or the newest matching a semver range, among the versions present.
 * Disabled workflows and retired versions start nothing, and a version no longer in the directory is retired as
 * far as new runs go (its in-flight runs, and their sub-workflows pinned to it, finish: they are not started
 * here). One function, so the executor and Core's mirror can never disagree.
 */
export function chooseStartVersion(workflow: StartableWorkflow | undefined, name: string, requested?: string): StartChoice {
  if (!workflow || workflow.versions.length === 0) return { ok: false, reason: 'unknown_workflow', message: `no workflow named ${name}` };
  if (!workflow.enabled) return { ok: false, reason: 'workflow_disabled', message: `workflow ${name} is disabled` };
  if (requested === undefined) {
    const chosen = resolveVersion('*', workflow.versions.filter((v) => v.present));
    return chosen
      ? { ok: true, version: chosen }
      : { ok: false, reason: 'unknown_version', message: `no version of ${name} is in the workflows directory` };
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
  return migrated(workflow, requested) ?? { ok: false, reason: 'unknown_version', message: `no version of ${name} matches ${requested}` };
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
