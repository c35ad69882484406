import { compileJsonSchema, majorOfRange, migrateInputs, migrationWarning, resolveVersion, type WorkflowManifest } from '@pancha/workflow-manifest';
import type { StepError } from './run-state';
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

/**
 * A child run's inputs as its version takes them (childRunInputs), checked against that version's `inputs` schema:
 * the inputs and any warning, or the `inputs_invalid` failure the child run ends with (never started; with the inputs
 * as migrated when only the schema refused them). One function for
 * the executor's child runs and the in-memory runner's, so `pancha workflows test` refuses what a real child refuses.
 */
export function checkedChildInputs(
  child: ChildRunCommand,
  manifest: WorkflowManifest,
): { inputs: Record<string, unknown>; warning?: string } | { error: StepError; inputs?: Record<string, unknown> } {
  let taken: { inputs: Record<string, unknown>; warning?: string };
  try {
    taken = childRunInputs(child, manifest);
  } catch (error) {
    return { error: { code: 'inputs_invalid', message: (error as Error).message, retryable: false } };
  }
  const problems = manifest.inputs === undefined ? [] : compileJsonSchema(manifest.inputs, { rootName: 'inputs' })(taken.inputs);
  if (problems.length === 0) return taken;
  const message = problems.map((p) => `${p.field}: ${p.messages.join(', ')}`).join('; ');
  // The inputs as migrated, so the refused child run shows what its schema refused.
  return { error: { code: 'inputs_invalid', message, retryable: false }, inputs: taken.inputs };
}
