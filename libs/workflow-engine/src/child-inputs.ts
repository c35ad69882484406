import { majorOfRange, migrateInputs, resolveVersion, type WorkflowManifest } from '@pancha/workflow-manifest';
import type { ChildRunCommand } from './interpreter';

/**
 * A child run's inputs as its version takes them. A child pinned outside the range its parent's manifest names is
 * the range's migration heir (a later major with `migrations['<major>.x']`): its inputs are migrated, with a warning
 * for the run's start. Throws MigrationError when the migration cannot render them.
 */
export function childRunInputs(child: ChildRunCommand, manifest: WorkflowManifest): { inputs: Record<string, unknown>; warning?: string } {
  const from = child.range !== undefined && resolveVersion(child.range, [{ version: child.version }]) === undefined ? majorOfRange(child.range) : undefined;
  if (from === undefined) return { inputs: child.inputs };
  return {
    inputs: migrateInputs(manifest, `${from}.0.0`, child.inputs),
    warning: `no live version of ${child.workflow} matches ${child.range}: started ${child.version} with the inputs migrated from ${from}.x`,
  };
}
