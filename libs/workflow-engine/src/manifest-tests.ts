import { isDeepStrictEqual } from 'node:util';
import { compileJsonSchema, type WorkflowManifest, type WorkflowTestCase } from '@pancha/workflow-manifest';
import { type InMemoryRunResult, runInMemory } from './in-memory-runner';
import type { ActionResult } from './interpreter';

export interface ManifestTestResult {
  workflow: string;
  version: string;
  name: string;
  passed: boolean;
  /** What did not match, one line each (empty when passed). */
  failures: string[];
  run: Pick<InMemoryRunResult['run'], 'status' | 'output' | 'error'>;
  stepsTaken: string[];
  durationMs: number;
}

export interface ManifestTestOptions {
  /** Sub-workflows not stubbed run in memory too, when their manifest is known here. */
  manifestOf?(name: string, version: string): WorkflowManifest | undefined;
  /** name@range → version, for the sub-workflows a test runs for real. */
  resolve?(name: string, range: string): string | undefined;
}

/**
 * Runs a manifest's `tests:` cases with the engine's own interpreter, in memory, on a fake clock, with no service:
 * actions answer from the case's `stub` (by step id); a step with neither a stub nor a runnable sub-workflow fails
 * the case with a message naming it, rather than reaching a real provider. A case whose inputs the manifest's
 * `inputs` schema refuses fails without running, one line per field, as a real start would answer 422.
 */
export async function runManifestTests(manifest: WorkflowManifest, options: ManifestTestOptions = {}): Promise<ManifestTestResult[]> {
  const results: ManifestTestResult[] = [];
  for (const testCase of manifest.tests) {
    const started = performance.now();
    try {
      results.push(await runCase(manifest, testCase, options));
    } catch (error) {
      // A bug of the engine (or of a stub it cannot take) fails this case alone, named; the other cases still run.
      results.push(crashed(manifest, testCase, error, performance.now() - started));
    }
  }
  return results;
}

/** Longest error message a crashed case reports. */
const MAX_CRASH_MESSAGE = 500;

function crashed(manifest: WorkflowManifest, testCase: WorkflowTestCase, error: unknown, durationMs: number): ManifestTestResult {
  const raw = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const message = raw.length > MAX_CRASH_MESSAGE ? `${raw.slice(0, MAX_CRASH_MESSAGE)}…` : raw;
  return {
    workflow: manifest.name,
    version: manifest.version,
    name: testCase.name,
    passed: false,
    failures: [`the engine failed unexpectedly while running this test: ${message}`],
    run: { status: 'failed', output: undefined, error: { code: 'engine_error', message, retryable: false } },
    stepsTaken: [],
    durationMs,
  };
}

/**
 * The inputs checked as a real start checks them (Core's and the executor's `validateInputs`: the same compiled
 * schema, rooted at `inputs`). A refused start runs nothing, whatever the case expects: `workflows validate`
 * refuses such a case too (invalid_test_inputs), so a manifest has no way to expect the refusal.
 */
function refusedInputs(manifest: WorkflowManifest, testCase: WorkflowTestCase, started: number): ManifestTestResult | undefined {
  if (manifest.inputs === undefined) return undefined;
  // parseManifest refuses a schema that does not compile, so this does not throw for a parsed manifest.
  const problems = compileJsonSchema(manifest.inputs, { rootName: 'inputs' })(testCase.inputs);
  if (problems.length === 0) return undefined;
  return {
    workflow: manifest.name,
    version: manifest.version,
    name: testCase.name,
    passed: false,
    failures: problems.map((p) => `inputs: a real start refuses them (422 inputs_invalid): ${p.field} ${p.messages.join(', ')}`),
    run: { status: 'failed', output: undefined, error: { code: 'inputs_invalid', message: `invalid inputs: ${problems.map((p) => p.field).join(', ')}`, retryable: false } },
    stepsTaken: [],
    durationMs: performance.now() - started,
  };
}

async function runCase(manifest: WorkflowManifest, testCase: WorkflowTestCase, options: ManifestTestOptions): Promise<ManifestTestResult> {
  const started = performance.now();
  const refused = refusedInputs(manifest, testCase, started);
  if (refused) return refused;
  const failures: string[] = [];
  const unstubbed = new Set<string>();
  const pins: Record<string, string> = {};
  for (const ref of refsOf(manifest)) {
    const version = options.resolve?.(ref.name, ref.range);
    if (version) pins[`${ref.name}@${ref.range}`] = version;
  }
  const result = await runInMemory({
    manifest,
    inputs: testCase.inputs,
    signals: Object.entries(testCase.signals).map(([name, payload]) => ({ name, payload })),
    pins,
    action: (command): ActionResult => {
      const stub = testCase.stub[command.step_id];
      if (stub?.error) return { ok: false, error: { code: stub.error.code, message: stub.error.message ?? stub.error.code, retryable: false } };
      if (stub && 'output' in stub) return { ok: true, output: stub.output };
      unstubbed.add(command.step_id);
      return { ok: false, error: { code: 'no_stub', message: `step ${command.step_id} (${command.action}) has no stub in this test`, retryable: false } };
    },
    child: (command, parentStep) => {
      // A run-level fallback is a run of its own (its manifest has its own tests); here it is only started.
      if (command.relation === 'run_fallback') return { id: command.run_id, status: 'pending' };
      // A workflow step's stub stands for its sub-workflow; a step fallback runs for real (its steps may be stubbed).
      const stub = parentStep && command.relation === 'subworkflow' ? testCase.stub[parentStep] : undefined;
      if (stub?.error) return { id: command.run_id, status: 'failed', error: { code: stub.error.code, message: stub.error.message ?? stub.error.code, retryable: false } };
      if (stub && 'output' in stub) return { id: command.run_id, status: 'completed', output: stub.output };
      return undefined;
    },
    manifestOf: options.manifestOf,
  });
  for (const step of unstubbed) failures.push(`step ${step} ran without a stub (add stub.${step}.output or stub.${step}.error)`);
  if (result.stuck) failures.push(`the run did not end: ${result.stuck}`);
  const expect = testCase.expect;
  if (result.run.status !== expect.status) {
    failures.push(`status: expected ${expect.status}, got ${result.run.status}${result.run.error ? ` (${result.run.error.code}: ${result.run.error.message})` : ''}`);
  }
  if (expect.error !== undefined && result.run.error?.code !== expect.error) {
    failures.push(`error: expected ${expect.error}, got ${result.run.error?.code ?? 'none'}`);
  }
  if (expect.output !== undefined) {
    const mismatch = subsetMismatch(expect.output, result.run.output, 'output');
    if (mismatch) failures.push(mismatch);
  }
  if (expect.steps_taken !== undefined && !isDeepStrictEqual(expect.steps_taken, result.stepsTaken)) {
    failures.push(`steps_taken: expected [${expect.steps_taken.join(', ')}], got [${result.stepsTaken.join(', ')}]`);
  }
  return {
    workflow: manifest.name,
    version: manifest.version,
    name: testCase.name,
    passed: failures.length === 0,
    failures,
    run: { status: result.run.status, output: result.run.output, error: result.run.error },
    stepsTaken: result.stepsTaken,
    durationMs: performance.now() - started,
  };
}

/** Every key the expectation names must be there with an equal value (lists compare whole); others may exist. */
function subsetMismatch(expected: unknown, actual: unknown, at: string): string | undefined {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${at}: expected an object, got ${JSON.stringify(actual)}`;
    for (const [key, value] of Object.entries(expected)) {
      const mismatch = subsetMismatch(value, (actual as Record<string, unknown>)[key], `${at}.${key}`);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  return isDeepStrictEqual(expected, actual) ? undefined : `${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

function refsOf(manifest: WorkflowManifest): { name: string; range: string }[] {
  const out: { name: string; range: string }[] = [];
  const seen = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === 'object') {
      const v = value as Record<string, unknown>;
      const ref = v.workflow as { name?: unknown; range?: unknown } | undefined;
      if (ref && typeof ref.name === 'string' && typeof ref.range === 'string' && !seen.has(`${ref.name}@${ref.range}`)) {
        seen.add(`${ref.name}@${ref.range}`);
        out.push({ name: ref.name, range: ref.range });
      }
      for (const [key, child] of Object.entries(v)) if (key !== 'with' && key !== 'tests') visit(child);
    }
  };
  visit(manifest.steps);
  visit(manifest.on_failure);
  return out;
}
