import { majorOfRange, migrateInputs, migrationWarning, resolveVersion, type WorkflowManifest } from '@pancha/workflow-manifest';
import type { ChildRunCommand } from './interpreter';

/**
 * A child run's inputs as its version takes them. A child pinned outside the range its parent's manifest names is
 * the range's migration heir (a later major with `migrations['<major>.x']`): its inputs are migrated, with a warning
 * for the run's start. Throws MigrationError when the migration cannot render them.
 */
export function childRunInputs(child: ChildRunCommand, manifest: WorkflowManifest): { inputs: Record<string, unknown>; warning?: string } {
  const { range } = child;
  const from = range !== undefined && resolveVersion(range, [{ version: child.version }]) === undefined ? majorOfRange(range) : undefined;
  if (range === undefined || from === undefined) return { inputs: child.inputs };
  const migrateFrom = `${from}.0.0`;
  return { inputs: migrateInputs(manifest, migrateFrom, child.inputs), warning: migrationWarning(child.workflow, range, child.version, migrateFrom) };
}
