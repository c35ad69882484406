import { parseManifest } from '@pancha/workflow-manifest';
import { runManifestTests } from './manifest-tests';

const PARENT = parseManifest(`
name: parent
version: 1.0.0
security: { actions: [task] }
steps:
  - id: child
    workflow: child@^1
  - id: note
    action: task
    with: { title: done }
tests:
  - name: runs the child for real
    inputs: {}
    stub: { note: { output: { task_id: t1 } } }
    expect: { status: completed }
  - name: stubs the child
    inputs: {}
    stub: { child: { output: { ok: true } }, note: { output: { task_id: t2 } } }
    expect: { status: completed, steps_taken: [child, note] }
`);

describe('runManifestTests', () => {
  it('an exception inside the engine fails that case alone, named with the error; the other cases still run', async () => {
    expect(PARENT.manifest).toBeDefined();
    // The sub-workflow lookup is the engine's to call while it runs a case: here it throws, as an engine bug would.
    const results = await runManifestTests(PARENT.manifest!, {
      resolve: () => '1.0.0',
      manifestOf: () => {
        throw new TypeError('registry lookup exploded');
      },
    });
    expect(results.map((r) => [r.name, r.passed])).toEqual([
      ['runs the child for real', false],
      ['stubs the child', true],
    ]);
    expect(results[0]).toMatchObject({
      workflow: 'parent',
      version: '1.0.0',
      failures: ['the engine failed unexpectedly while running this test: TypeError: registry lookup exploded'],
      run: { status: 'failed', error: { code: 'engine_error', message: 'TypeError: registry lookup exploded' } },
    });
  });
});

describe('runManifestTests with a workflow that reaches itself', () => {
  const LOOP = parseManifest(`
name: loop
version: 1.0.0
steps:
  - id: again
    workflow: loop@^1
tests:
  - name: calls itself
    inputs: {}
    expect: { status: failed }
`);

  it('fails the repeated run with workflow_cycle, naming the chain, instead of recursing until the stack overflows', async () => {
    expect(LOOP.manifest).toBeDefined();
    const results = await runManifestTests(LOOP.manifest!, { resolve: () => '1.0.0', manifestOf: () => LOOP.manifest });
    expect(results).toHaveLength(1);
    expect(results[0].passed).toBe(true);
    expect(results[0].run.status).toBe('failed');
    // The failure names the cycle once, not one nested subworkflow_failed per level of a stack overflow.
    const said = JSON.stringify(results[0].run.error);
    expect(said).toContain('sub-workflows form a cycle: loop@1.0.0 → loop@1.0.0');
    expect(said.length).toBeLessThan(2000);
  });
});

describe('runManifestTests with inputs the workflow\'s inputs schema refuses', () => {
  const STRICT = parseManifest(`
name: strict
version: 1.0.0
security: { actions: [task] }
inputs:
  type: object
  required: [a]
  additionalProperties: false
  properties: { a: { type: integer } }
steps:
  - id: note
    action: task
    with: { title: done }
tests:
  - name: refused inputs
    inputs: { b: str }
    stub: { note: { output: { task_id: t1 } } }
    expect: { status: completed }
  - name: refused inputs, expecting the refusal
    inputs: { a: "1" }
    stub: { note: { output: { task_id: t1 } } }
    expect: { status: failed, error: inputs_invalid }
  - name: good inputs
    inputs: { a: 1 }
    stub: { note: { output: { task_id: t1 } } }
    expect: { status: completed, steps_taken: [note] }
`);

  it('fails the case, naming each field as the 422 of a real start would, and runs nothing; a valid case still passes', async () => {
    expect(STRICT.manifest).toBeDefined();
    const results = await runManifestTests(STRICT.manifest!);
    expect(results.map((r) => [r.name, r.passed])).toEqual([
      ['refused inputs', false],
      // The file is refused by `workflows validate` (invalid_test_inputs) whatever the case expects: so is the case.
      ['refused inputs, expecting the refusal', false],
      ['good inputs', true],
    ]);
    expect(results[0]).toMatchObject({
      failures: [
        'inputs: a real start refuses them (422 inputs_invalid): inputs.a is required',
        'inputs: a real start refuses them (422 inputs_invalid): inputs.b is not allowed',
      ],
      run: { status: 'failed', error: { code: 'inputs_invalid', message: 'invalid inputs: inputs.a, inputs.b' } },
      stepsTaken: [],
    });
    expect(results[1].failures).toEqual(['inputs: a real start refuses them (422 inputs_invalid): inputs.a must be integer']);
  });
});

describe('runManifestTests with a sub-workflow run for real', () => {
  const CHILD = parseManifest(`
name: child
version: 1.0.0
security: { actions: [task] }
inputs:
  type: object
  required: [n]
  properties: { n: { type: integer } }
steps:
  - id: note
    action: task
    with: { title: done }
`);
  const PARENT = parseManifest(`
name: parent
version: 1.0.0
steps:
  - id: sub
    workflow: child@^1
    with: { n: "not a number" }
tests:
  - name: the child refuses its inputs
    inputs: {}
    stub: {}
    expect: { status: failed }
`);

  it("fails the child with inputs_invalid, as the executor's child run would, instead of running it", async () => {
    expect(CHILD.manifest && PARENT.manifest).toBeDefined();
    const results = await runManifestTests(PARENT.manifest!, {
      resolve: () => '1.0.0',
      manifestOf: (name: string) => (name === 'child' ? CHILD.manifest : PARENT.manifest),
    });
    expect(results[0].passed).toBe(true);
    expect(JSON.stringify(results[0].run.error)).toContain('inputs_invalid');
    expect(JSON.stringify(results[0].run.error)).toContain('inputs.n');
  });
});
