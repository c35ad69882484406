import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding, FindingSeverity, JsonSchema, ValidationLayer, WorkflowManifest } from './manifest.types';
import { parseManifest } from './parse-manifest';
import {
  applyValidationMode,
  BUILTIN_ACTIONS,
  formatFinding,
  indexSteps,
  type RegisteredVersion,
  validateManifest,
  validateWorkflowSet,
  type ValidationContext,
} from './validate-manifest';

const httpSchema: JsonSchema = {
  type: 'object',
  required: ['method', 'url'],
  properties: { method: { enum: ['GET', 'POST', 'PUT', 'DELETE'] }, url: { type: 'string' }, headers: { type: 'object' }, body: {}, expect_status: { type: 'integer' } },
  additionalProperties: false,
};
const actions = new Map<string, { inputSchema?: JsonSchema }>(BUILTIN_ACTIONS.map((a) => [a, a === 'http' ? { inputSchema: httpSchema } : {}]));

function registry(entries: Record<string, RegisteredVersion[]>): ValidationContext['versionsOf'] {
  return (name) => entries[name] ?? [];
}

const baseCtx: ValidationContext = { actions, versionsOf: registry({ 'publish-one': [{ version: '1.0.0' }], 'notify-ops': [{ version: '1.0.0' }] }) };

const header = [
  'name: demo',
  'version: 1.0.0',
  'security:',
  '  actions: [task, email, http, ai]',
  '  http_hosts: [hooks.example.com, "*.internal.example.com"]',
  '  secrets: [CRM_TOKEN]',
];
const yaml = (...lines: string[]) => [...header, ...lines].join('\n') + '\n';

function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  if (index < 0) throw new Error(`"${needle}" is not in the text`);
  return index + 1;
}

function parse(text: string, file = 'demo.yaml') {
  const parsed = parseManifest(text, { file });
  if (!parsed.manifest) throw new Error(`fixture does not parse: ${parsed.findings.map(formatFinding).join('\n')}`);
  return { manifest: parsed.manifest, source: parsed.source };
}

function findingsOf(text: string, ctx: ValidationContext = baseCtx): Finding[] {
  const { manifest, source } = parse(text);
  return validateManifest(manifest, ctx, source);
}

/** Exactly one finding with this code, at this path, on the line holding `needle`. */
function expectOne(
  text: string,
  expected: { code: string; layer: ValidationLayer; severity?: FindingSeverity; path: string; needle: string; message?: RegExp },
  ctx: ValidationContext = baseCtx,
): Finding {
  const findings = findingsOf(text, ctx);
  const matching = findings.filter((f) => f.code === expected.code);
  if (matching.length !== 1) throw new Error(`expected one ${expected.code}, got:\n${findings.map(formatFinding).join('\n')}`);
  expect(matching[0]).toMatchObject({
    layer: expected.layer,
    severity: expected.severity ?? 'error',
    path: expected.path,
    file: 'demo.yaml',
    line: lineOf(text, expected.needle),
  });
  if (expected.message) expect(matching[0].message).toMatch(expected.message);
  return matching[0];
}

const errorsOf = (findings: Finding[]) => findings.filter((f) => f.severity === 'error');

describe('the WORKFLOWS.md example', () => {
  const text = readFileSync(join(__dirname, 'fixtures/onboard-learner.yaml'), 'utf8');

  it('has zero errors with the built-in actions and publish-one, notify-ops registered', () => {
    const parsed = parseManifest(text, { file: 'onboard-learner.yaml', expectedName: 'onboard-learner' });
    expect(parsed.findings).toEqual([]);
    const findings = validateManifest(parsed.manifest as WorkflowManifest, baseCtx, parsed.source);
    expect(errorsOf(findings)).toEqual([]);
    // What it does get: its 10m run timeout ends the run before its 1h sleep or 2d approval can.
    expect(findings.map((f) => f.code)).toEqual(['wait_exceeds_run_timeout', 'wait_exceeds_run_timeout']);
  });

  it('warns that sub-workflows cannot be resolved without a registry', () => {
    const { manifest, source } = parse(text);
    const findings = validateManifest(manifest, { actions }, source);
    expect(findings.filter((f) => f.code === 'unresolved_workflow').map((f) => [f.severity, f.path, f.line])).toEqual([
      ['warning', '/steps/4/workflow', lineOf(text, 'workflow: publish-one')],
      ['warning', '/on_failure/workflow', lineOf(text, 'workflow: notify-ops')],
    ]);
  });
});

describe('semantic layer', () => {
  const layer = 'semantic' as const;

  it('duplicate_step_id: across nesting, with the first line', () => {
    const text = yaml('steps:', '  - id: a', '    action: task', '  - id: group', '    steps:', '      - id: a', '        action: task');
    const f = expectOne(text, { code: 'duplicate_step_id', layer, path: '/steps/1/steps/0/id', needle: '      - id: a' });
    expect(f.message).toContain(`first at line ${lineOf(text, '  - id: a')}`);
  });

  it('duplicate_trigger_name: two triggers sharing a name (and so filter state), at the second one\'s name', () => {
    const text = yaml(
      'triggers:',
      '  - name: t',
      '    event: kpi.a',
      '  - event: kpi.b',
      '  - name: t',
      '    event: kpi.c',
      'steps:',
      '  - id: a',
      '    action: task',
    );
    const found = findingsOf(text).filter((f) => f.code === 'duplicate_trigger_name');
    expect(found).toEqual([expect.objectContaining({ layer, severity: 'error', path: '/triggers/2/name', line: lineOf(text, 'event: kpi.c') - 1 })]);
    expect(found[0].message).toContain('first by triggers[0]');
  });

  it('invalid_expression: in an if, with its column', () => {
    const text = yaml('steps:', '  - id: a', '    if: inputs.x >', '    action: task');
    expectOne(text, { code: 'invalid_expression', layer, path: '/steps/0/if', needle: 'if: inputs', message: /column 11/ });
  });

  it('invalid_expression: inside a template, at the field', () => {
    const text = yaml('steps:', '  - id: a', '    action: email', '    with:', '      recipient: "{{ inputs.email"', '      subject: "{{ inputs.missing_fn() }}"');
    const findings = findingsOf(text).filter((f) => f.code === 'invalid_expression');
    expect(findings.map((f) => [f.path, f.line])).toEqual([
      ['/steps/0/with/recipient', lineOf(text, 'recipient:')],
      ['/steps/0/with/subject', lineOf(text, 'subject:')],
    ]);
  });

  it('invalid_expression: an unknown variable (a typo of inputs)', () => {
    expectOne(yaml('steps:', '  - id: a', '    if: input.x == 1', '    action: task'), { code: 'invalid_expression', layer, path: '/steps/0/if', needle: 'if:', message: /unknown variable: input/i });
  });

  it('item_outside_foreach', () => {
    expectOne(yaml('steps:', '  - id: a', '    action: task', '    with: { title: "{{ item }}" }'), { code: 'item_outside_foreach', layer, path: '/steps/0/with', needle: 'with:' });
  });

  it('event_outside_trigger', () => {
    expectOne(yaml('steps:', '  - id: a', '    if: event.type == "x"', '    action: task'), { code: 'event_outside_trigger', layer, path: '/steps/0/if', needle: 'if:' });
  });

  it('not_available_in_trigger', () => {
    const text = yaml('triggers:', '  - event: user.created', '    if: inputs.x == 1', 'steps: [{ id: a, action: task }]');
    expectOne(text, { code: 'not_available_in_trigger', layer, path: '/triggers/0/if', needle: 'if: inputs' });
  });

  it('not_available_in_migration', () => {
    const text = ['name: demo', 'version: 2.0.0', 'security: { actions: [task] }', 'steps: [{ id: a, action: task }]', 'migrations:', '  1.x: { user: "{{ run.user_id }}" }', ''].join('\n');
    expectOne(text, { code: 'not_available_in_migration', layer, path: '/migrations/1.x', needle: '1.x:' });
  });

  it('unknown_step_reference, with a suggestion', () => {
    const text = yaml('steps:', '  - id: create_task', '    action: task', '  - id: b', '    action: task', '    with: { title: "{{ steps.create_tsk.output.id }}" }');
    expectOne(text, { code: 'unknown_step_reference', layer, path: '/steps/1/with', needle: 'create_tsk', message: /did you mean "create_task"/ });
  });

  it('step_reference_not_earlier: a later step', () => {
    const text = yaml('steps:', '  - id: a', '    action: task', '    with: { title: "{{ steps.b.output.id }}" }', '  - id: b', '    action: task');
    expectOne(text, { code: 'step_reference_not_earlier', layer, path: '/steps/0/with', needle: 'steps.b', message: /"b" runs later/ });
  });

  it('step_reference_not_earlier: its own output', () => {
    expectOne(yaml('steps:', '  - id: a', '    if: has(steps.a.output)', '    action: task'), { code: 'step_reference_not_earlier', layer, path: '/steps/0/if', needle: 'if:', message: /its own output/ });
  });

  it('step_reference_not_earlier: a parallel sibling branch', () => {
    const text = yaml('steps:', '  - id: fan', '    parallel:', '      - { id: left, action: task }', '      - id: right', '        action: task', '        with: { title: "{{ steps.left.output.id }}" }');
    expectOne(text, { code: 'step_reference_not_earlier', layer, path: '/steps/0/parallel/1/with', needle: 'steps.left', message: /runs in parallel/ });
  });

  it('step_reference_not_earlier: a foreach body step from outside', () => {
    const text = yaml(
      'steps:',
      '  - id: each',
      '    foreach: inputs.items',
      '    steps: [{ id: per_item, action: task, with: { title: "{{ item }}" } }]',
      '  - id: after',
      '    action: task',
      '    with: { title: "{{ steps.per_item.output.id }}" }',
    );
    expectOne(text, { code: 'step_reference_not_earlier', layer, path: '/steps/1/with', needle: 'steps.per_item', message: /read steps\.each\.output/ });
  });

  describe('unknown_step_member: steps.<id> has output, status and error only', () => {
    it('in the run output, at the field, naming the path and the members (the tester\'s case)', () => {
      const text = yaml('steps:', '  - id: typed', '    action: task', 'output: { ok: "{{ steps.typed.output }}", typed_in: "{{ steps.typed.input }}" }');
      const f = expectOne(text, { code: 'unknown_step_member', layer, path: '/output/typed_in', needle: 'typed_in' });
      expect(f.message).toBe('steps.typed.input: a step has no member "input"; expressions see steps.typed.output, .status and .error only');
      expect(applyValidationMode(findingsOf(text), 'strict').accepted).toBe(false);
    });

    it.each([
      ['a step if', ['  - id: b', '    if: steps.a.result == "x"', '    action: task'], '/steps/1/if', 'if:'],
      ['a has() in an if', ['  - id: b', '    if: has(steps.a.outputs.x)', '    action: task'], '/steps/1/if', 'if:'],
      ['an index with a literal key', ['  - id: b', '    action: task', '    with: { t: "{{ steps[\'a\'][\'statuss\'] }}" }'], '/steps/1/with/t', 'with:'],
      ['an interpolation in a nested with', ['  - id: b', '    action: task', '    with: { body: { lines: ["x", "n={{ steps.a.data.n }}"] } }'], '/steps/1/with/body/lines/1', 'with:'],
      ['a switch case', ['  - id: b', '    switch:', '      - when: steps.a.code == 1', '        steps: [{ id: c, action: task }]'], '/steps/1/switch/0/when', 'when:'],
      ['a foreach list', ['  - id: b', '    foreach: steps.a.items', '    steps: [{ id: c, action: task }]'], '/steps/1/foreach', 'foreach:'],
      ['a sleep until', ['  - id: b', '    sleep: { until: "{{ steps.a.at }}" }'], '/steps/1/sleep/until', 'until:'],
      ["a step fallback's with", ['  - id: b', '    action: task', '    on_failure: { workflow: "notify-ops@^1", with: { e: "{{ steps.b.errors }}" } }'], '/steps/1/on_failure/with/e', 'on_failure:'],
    ])('in %s', (_what, lines, path, needle) => {
      const text = yaml('steps:', '  - id: a', '    action: task', ...lines);
      expectOne(text, { code: 'unknown_step_member', layer, path, needle, message: /^steps\.(a|b)\.\w+: a step has no member/ });
    });

    it("in the run's on_failure with, and a suggestion for a near miss", () => {
      const text = yaml('steps:', '  - id: a', '    action: task', 'on_failure:', '  workflow: notify-ops@^1', '  with: { why: "{{ steps.a.erorr.code }}" }');
      expectOne(text, { code: 'unknown_step_member', layer, path: '/on_failure/with/why', needle: 'with:', message: /did you mean "error"/ });
    });

    it('allows output, status and error at any depth, and a step read whole', () => {
      const text = yaml(
        'steps:',
        '  - id: a',
        '    action: task',
        '  - id: b',
        '    if: steps.a.status == "completed" && has(steps.a.output.input) && steps.a.error == null',
        '    action: task',
        '    with: { whole: "{{ steps.a }}", deep: "{{ steps.a.output.input.status }}", opt: "{{ steps.a.?output.orValue(null) }}" }',
      );
      expect(findingsOf(text).filter((f) => f.code === 'unknown_step_member')).toEqual([]);
    });

    it('reports an unknown step as unknown_step_reference alone, not its member too', () => {
      const text = yaml('steps:', '  - id: a', '    action: task', 'output: { x: "{{ steps.nope.input }}" }');
      expect(findingsOf(text).map((f) => f.code)).toEqual(['unknown_step_reference']);
    });
  });

  describe('condition_not_bool: a condition whose type the checker knows is not bool', () => {
    it.each([
      ['a step if of an int', ['  - id: a', '    if: int(inputs.n)', '    action: task'], '/steps/0/if', 'if:', 'if of step a must be a bool, got int (int(inputs.n))'],
      ['a step if of a list', ['  - id: a', '    if: "[inputs.flag]"', '    action: task'], '/steps/0/if', 'if:', 'if of step a must be a bool, got list ([inputs.flag])'],
      ['a step if of a string literal', ['  - id: a', '    if: "\'true\'"', '    action: task'], '/steps/0/if', 'if:', `if of step a must be a bool, got string ('true')`],
      [
        'a switch case',
        ['  - id: a', '    switch:', '      - when: size(inputs.items)', '        steps: [{ id: c, action: task }]'],
        '/steps/0/switch/0/when',
        'when:',
        'switch case 0 of step a must be a bool, got int (size(inputs.items))',
      ],
    ])('%s', (_what, lines, path, needle, message) => {
      const text = yaml('steps:', ...lines);
      const f = expectOne(text, { code: 'condition_not_bool', layer, path, needle });
      expect(f.message).toBe(message);
    });

    it("a trigger's if", () => {
      const text = yaml('triggers:', '  - event: kpi.updated', '    if: string(event.data.score)', 'steps: [{ id: a, action: task }]');
      expectOne(text, { code: 'condition_not_bool', layer, path: '/triggers/0/if', needle: 'if: string', message: /^if of triggers\[0\] must be a bool, got string/ });
    });

    it('accepts bools and values that depend on the data (dyn: checked when the step runs)', () => {
      const text = yaml('steps:', '  - id: a', '    if: inputs.flag', '    action: task', '  - id: b', '    if: has(inputs.x) && inputs.n > 1', '    action: task');
      expect(findingsOf(text)).toEqual([]);
    });
  });

  it('allows earlier steps, earlier body steps, parallel branches after the join, and a fallback reading its own step', () => {
    const text = yaml(
      'steps:',
      '  - id: first',
      '    action: task',
      '  - id: fan',
      '    parallel:',
      '      - { id: left, action: task }',
      '      - { id: right, action: task }',
      '  - id: each',
      '    foreach: "{{ steps.first.output.items }}"',
      '    steps:',
      '      - { id: one, action: task, with: { title: "{{ item.name }} {{ index }} {{ steps.left.output.id }}" } }',
      '      - { id: two, action: task, with: { title: "{{ steps.one.output.id }}" } }',
      '  - id: last',
      '    action: task',
      '    with: { all: "{{ steps.each.output }}", r: "{{ steps.right.output }}" }',
      '    on_failure: { workflow: "notify-ops@^1", with: { error: "{{ steps.last.error }}" } }',
      'output: { first: "{{ steps.first.output }}", last: "{{ steps.last.output }}" }',
    );
    expect(findingsOf(text)).toEqual([]);
  });

  it('dynamic_step_reference is a warning', () => {
    const text = yaml('steps:', '  - id: a', '    action: task', '  - id: b', '    action: task', '    with: { x: "{{ steps[inputs.which].output }}" }');
    expectOne(text, { code: 'dynamic_step_reference', layer, severity: 'warning', path: '/steps/1/with', needle: 'steps[inputs' });
  });

  it('invalid_goto: not a later step of the same block', () => {
    const text = yaml('steps:', '  - id: a', '    action: task', '  - id: b', '    action: task', '    on_failure: { goto: a }');
    expectOne(text, { code: 'invalid_goto', layer, path: '/steps/1/on_failure/goto', needle: 'goto: a', message: /later step of the same block/ });
  });

  it('invalid_signal_name', () => {
    expectOne(yaml('timeout: 1d', 'steps:', '  - id: ok', '    approval: { signal: Mentor OK, timeout: 1h }'), { code: 'invalid_signal_name', layer, path: '/steps/0/approval/signal', needle: 'approval:' });
  });

  it('duplicate_signal is a warning', () => {
    const text = yaml('timeout: 1d', 'steps:', '  - id: one', '    approval: { signal: ok, timeout: 1h }', '  - id: two', '    approval: { signal: ok, timeout: 2h }');
    expectOne(text, { code: 'duplicate_signal', layer, severity: 'warning', path: '/steps/1/approval/signal', needle: 'timeout: 2h' });
  });

  it('invalid_retry', () => {
    expectOne(yaml('retry: { initial_interval: 2m, max_interval: 1m }', 'steps: [{ id: a, action: task }]'), { code: 'invalid_retry', layer, path: '/retry', needle: 'retry:' });
  });

  it('unknown_workflow and no_matching_version', () => {
    const ctx: ValidationContext = { actions, versionsOf: registry({ 'publish-one': [{ version: '1.0.0' }, { version: '2.0.0', retired: true }] }) };
    expectOne(yaml('steps:', '  - id: sub', '    workflow: publish-two@^1'), { code: 'unknown_workflow', layer, path: '/steps/0/workflow', needle: 'workflow:' }, ctx);
    expectOne(yaml('steps:', '  - id: sub', '    workflow: publish-one@^2'), { code: 'no_matching_version', layer, path: '/steps/0/workflow', needle: 'workflow:', message: /no non-retired version.*known: 1\.0\.0, 2\.0\.0/ }, ctx);
  });

  it('migrated_workflow_ref: a range no live version matches, taken by a later major that migrates its inputs, is a warning', () => {
    const heir = parse(['name: publish-one', 'version: 2.0.0', 'migrations: { 1.x: { text: "{{ inputs.body }}" } }', 'steps: [{ id: a, action: task }]', ''].join('\n')).manifest;
    const migrating: ValidationContext = { actions, versionsOf: registry({ 'publish-one': [{ version: '1.0.0', retired: true }, { version: '2.0.0', manifest: heir }] }) };
    expectOne(yaml('steps:', '  - id: sub', '    workflow: publish-one@^1'), {
      code: 'migrated_workflow_ref',
      layer,
      severity: 'warning',
      path: '/steps/0/workflow',
      needle: 'workflow:',
      message: /no live version of "publish-one" satisfies \^1: runs start publish-one@2\.0\.0 with this step's inputs migrated from 1\.x/,
    }, migrating);
    // Without the migration it stays an error.
    const plain: ValidationContext = { actions, versionsOf: registry({ 'publish-one': [{ version: '1.0.0', retired: true }, { version: '2.0.0' }] }) };
    expectOne(yaml('steps:', '  - id: sub', '    workflow: publish-one@^1'), { code: 'no_matching_version', layer, path: '/steps/0/workflow', needle: 'workflow:' }, plain);
  });

  it('workflow_cycle: itself, and through a registered workflow', () => {
    expectOne(yaml('steps:', '  - id: again', '    workflow: demo@^1'), { code: 'workflow_cycle', layer, path: '/steps/0/workflow', needle: 'workflow:', message: /demo@1\.0\.0 → demo@1\.0\.0/ }, { actions, versionsOf: registry({}) });

    const other = parse(['name: other', 'version: 1.0.0', 'steps:', '  - id: back', '    workflow: demo@^1', ''].join('\n')).manifest;
    const ctx: ValidationContext = { actions, versionsOf: registry({ other: [{ version: '1.0.0', manifest: other }] }) };
    expectOne(
      yaml('steps: [{ id: a, action: task }]', 'on_failure: { workflow: "other@^1" }'),
      { code: 'workflow_cycle', layer, path: '/on_failure/workflow', needle: 'on_failure:', message: /demo@1\.0\.0 → other@1\.0\.0 → demo@1\.0\.0/ },
      ctx,
    );
  });

  it('missing_action_input, unknown_action_input and invalid_action_input against the action schema', () => {
    const text = yaml('steps:', '  - id: call', '    action: http', '    with:', '      url: https://hooks.example.com/x', '      expect_stauts: 200', '  - id: call2', '    action: http', '    with: { method: FETCH, url: "https://hooks.example.com/{{ inputs.p }}" }');
    expectOne(text, { code: 'missing_action_input', layer, path: '/steps/0/with', needle: '    with:', message: /http needs with\.method/ });
    expectOne(text, { code: 'unknown_action_input', layer, path: '/steps/0/with/expect_stauts', needle: 'expect_stauts', message: /did you mean "expect_status"/ });
    expectOne(text, { code: 'invalid_action_input', layer, path: '/steps/1/with/method', needle: 'FETCH', message: /with\.method must be one of "GET"/ });
  });

  it('invalid_migration: from a major that is not older', () => {
    expectOne(yaml('steps: [{ id: a, action: task }]', 'migrations:', '  1.x: { a: "{{ inputs.a }}" }'), { code: 'invalid_migration', layer, path: '/migrations/1.x', needle: '1.x:' });
  });

  it('unknown_test_step and invalid_test_inputs', () => {
    const text = yaml(
      'inputs: { type: object, required: [user_id], properties: { user_id: { type: string } } }',
      'steps: [{ id: a, action: task }]',
      'tests:',
      '  - name: t',
      '    inputs: { user_id: 7 }',
      '    stub: { b: { output: {} } }',
      '    expect: { status: completed, steps_taken: [a] }',
    );
    expectOne(text, { code: 'unknown_test_step', layer, path: '/tests/0/stub/b', needle: 'stub:' });
    expectOne(text, { code: 'invalid_test_inputs', layer, path: '/tests/0/inputs', needle: 'inputs: { user_id: 7 }', message: /inputs\.user_id must be string/ });
  });
});

describe('security layer', () => {
  const layer = 'security' as const;

  it('action_not_allowed and unknown_action', () => {
    expectOne(yaml('steps:', '  - id: a', '    action: whatsapp'), { code: 'action_not_allowed', layer, path: '/steps/0/action', needle: 'action: whatsapp' });
    const text = ['name: demo', 'version: 1.0.0', 'security: { actions: [task, sms] }', 'steps:', '  - id: a', '    action: sms', ''].join('\n');
    const findings = findingsOf(text).filter((f) => f.code === 'unknown_action');
    expect(findings.map((f) => [f.severity, f.path, f.line])).toEqual([
      ['error', '/steps/0/action', lineOf(text, 'action: sms')],
      ['warning', '/security/actions/1', lineOf(text, 'security:')],
    ]);
  });

  it('refuses a secret named __proto__, constructor or prototype (a secrets scope cannot hold them as data)', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const text = ['name: demo', 'version: 1.0.0', `security: { actions: [task], secrets: [OK_TOKEN, ${name}] }`, 'steps: [{ id: a, action: task }]', ''].join('\n');
      const parsed = parseManifest(text, { file: 'demo.yaml' });
      expect(parsed.manifest).toBeUndefined();
      expect(parsed.findings.filter((f) => f.severity === 'error').map((f) => [f.path, f.message.startsWith(`"${name}" does not match`)])).toEqual([['/security/secrets/1', true]]);
    }
    const fine = ['name: demo', 'version: 1.0.0', 'security: { actions: [task], secrets: [OK_TOKEN, constructor_key] }', 'steps: [{ id: a, action: task }]', ''].join('\n');
    expect(findingsOf(fine).filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('http_host_not_allowed, including a wildcard that does not cover the bare domain', () => {
    expectOne(yaml('steps:', '  - id: call', '    action: http', '    with: { method: GET, url: "https://evil.example.org/x" }'), { code: 'http_host_not_allowed', layer, path: '/steps/0/with/url', needle: 'evil' });
    expectOne(yaml('steps:', '  - id: call', '    action: http', '    with: { method: GET, url: "https://internal.example.com/x" }'), { code: 'http_host_not_allowed', layer, path: '/steps/0/with/url', needle: 'https://internal' });
    expect(findingsOf(yaml('steps:', '  - id: call', '    action: http', '    with: { method: GET, url: "https://a.internal.example.com/{{ inputs.p }}" }'))).toEqual([]);
  });

  it('http_host_not_in_policy: a declared host the deployment forbids is a warning; a literal URL to one is an error', () => {
    const ctx = { ...baseCtx, policyHttpHosts: ['hooks.example.com'] };
    const text = yaml('steps:', '  - id: call', '    action: http', '    with: { method: GET, url: "https://hooks.example.com/x" }');
    expectOne(text, { code: 'http_host_not_in_policy', layer, severity: 'warning', path: '/security/http_hosts/1', needle: 'http_hosts:' }, ctx);
    const forbidden = { ...baseCtx, policyHttpHosts: ['other.example.com'] };
    const literal = findingsOf(text, forbidden).filter((f) => f.code === 'http_host_not_in_policy' && f.path === '/steps/0/with/url');
    expect(literal).toEqual([expect.objectContaining({ severity: 'error' })]);
  });

  it('http_host_unchecked is a warning; invalid_url an error', () => {
    expectOne(yaml('steps:', '  - id: call', '    action: http', '    with: { method: GET, url: "{{ inputs.url }}" }'), { code: 'http_host_unchecked', layer, severity: 'warning', path: '/steps/0/with/url', needle: 'url:' });
    expectOne(yaml('steps:', '  - id: call', '    action: http', '    with: { method: GET, url: "https://user:pw@hooks.example.com/" }'), { code: 'invalid_url', layer, path: '/steps/0/with/url', needle: 'url:' });
    expectOne(yaml('steps:', '  - id: call', '    action: http', '    with: { method: GET, url: "file:///etc/passwd" }'), { code: 'invalid_url', layer, path: '/steps/0/with/url', needle: 'url:' });
  });

  it('secret_not_allowed_here: outside an action with', () => {
    expectOne(yaml('steps: [{ id: a, action: task }]', 'output: { token: "{{ secrets.CRM_TOKEN }}" }'), { code: 'secret_not_allowed_here', layer, path: '/output', needle: 'output:' });
    expectOne(yaml('steps:', '  - id: a', '    if: secrets.CRM_TOKEN != ""', '    action: task'), { code: 'secret_not_allowed_here', layer, path: '/steps/0/if', needle: 'if:' });
  });

  it('undeclared_secret and dynamic_secret_access', () => {
    expectOne(yaml('steps:', '  - id: a', '    action: http', '    with: { method: GET, url: "https://hooks.example.com", headers: { authorization: "Bearer {{ secrets.OTHER }}" } }'), { code: 'undeclared_secret', layer, path: '/steps/0/with', needle: 'OTHER' });
    expectOne(yaml('steps:', '  - id: a', '    action: task', '    with: { t: "{{ secrets[inputs.name] }}" }'), { code: 'dynamic_secret_access', layer, path: '/steps/0/with', needle: 'secrets[' });
  });

  it('accepts a declared secret in an action with', () => {
    expect(findingsOf(yaml('steps:', '  - id: a', '    action: http', '    with: { method: POST, url: "https://hooks.example.com/x", headers: { Authorization: "Bearer {{ secrets.CRM_TOKEN }}" } }'))).toEqual([]);
  });

  it.each([
    ['a secret-named key with a literal', '{ method: GET, url: "https://hooks.example.com", headers: { X-Api-Key: abc123 } }', '/steps/0/with/headers/X-Api-Key'],
    ['a literal Bearer token', '{ method: GET, url: "https://hooks.example.com", headers: { X-Auth-Header: "Bearer abcdef123456" } }', '/steps/0/with/headers/X-Auth-Header'],
    ['an sk- key', '{ method: POST, url: "https://hooks.example.com", body: { k: "sk-abcdefghijklmnop1234" } }', '/steps/0/with/body/k'],
    ['a long hex string', '{ method: POST, url: "https://hooks.example.com", body: "0123456789abcdef0123456789abcdef" }', '/steps/0/with/body'],
    ['a random-looking blob', '{ method: POST, url: "https://hooks.example.com", body: "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE" }', '/steps/0/with/body'],
  ])('inline_secret: %s', (_what, withValue, path) => {
    expectOne(yaml('steps:', '  - id: call', '    action: http', `    with: ${withValue}`), { code: 'inline_secret', layer, path, needle: 'with:' });
  });

  it('does not take ordinary values for secrets', () => {
    const text = yaml('steps:', '  - id: a', '    action: ai', '    with: { prompt: "Summarise {{ inputs.user_id }} in detail for the team", max_tokens: 500, token_budget: "{{ inputs.n }}", id: "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b" }');
    expect(findingsOf(text)).toEqual([]);
  });
});

describe('limits layer', () => {
  const layer = 'limits' as const;
  const small: ValidationContext = { ...baseCtx, limits: { max_steps: 3, max_parallel_branches: 2, max_foreach_concurrency: 4, max_depth: 2, max_attempts: 5, max_triggers: 1 } };

  it('too_many_steps', () => {
    expectOne(yaml('steps:', '  - { id: a, action: task }', '  - { id: b, action: task }', '  - id: g', '    steps: [{ id: c, action: task }]'), { code: 'too_many_steps', layer, path: '/steps', needle: 'steps:' }, small);
  });

  it('too_many_branches', () => {
    expectOne(yaml('steps:', '  - id: p', '    parallel: [{ id: a, action: task }, { id: b, action: task }, { id: c, action: task }]'), { code: 'too_many_branches', layer, path: '/steps/0/parallel', needle: 'parallel:' }, { ...small, limits: { ...small.limits, max_steps: 10 } });
  });

  it('concurrency_too_high', () => {
    expectOne(yaml('steps:', '  - id: each', '    foreach: inputs.items', '    concurrency: 8', '    action: task'), { code: 'concurrency_too_high', layer, path: '/steps/0/concurrency', needle: 'concurrency:' }, small);
  });

  it('nesting_too_deep', () => {
    expectOne(yaml('steps:', '  - id: outer', '    steps:', '      - id: middle', '        steps:', '          - id: inner', '            action: task'), { code: 'nesting_too_deep', layer, path: '/steps/0/steps/0/steps/0', needle: 'id: inner' }, small);
  });

  it('too_many_attempts and retry_interval_too_long (a step that overrides the manifest)', () => {
    const text = yaml('steps:', '  - id: a', '    action: task', '    retry: { max_attempts: 9, max_interval: 2h }');
    expectOne(text, { code: 'too_many_attempts', layer, path: '/steps/0/retry/max_attempts', needle: 'retry:' }, small);
    expectOne(text, { code: 'retry_interval_too_long', layer, path: '/steps/0/retry/max_interval', needle: 'retry:' }, small);
  });

  it('too_many_triggers', () => {
    expectOne(yaml('triggers: [{ event: a.b }, { event: c.d }]', 'steps: [{ id: a, action: task }]'), { code: 'too_many_triggers', layer, path: '/triggers', needle: 'triggers:' }, small);
  });

  it('run_timeout_too_long, sleep_too_long and approval_timeout_too_long', () => {
    expectOne(yaml('timeout: 31d', 'steps: [{ id: a, action: task }]'), { code: 'run_timeout_too_long', layer, path: '/timeout', needle: 'timeout:' });
    expectOne(yaml('steps:', '  - id: nap', '    sleep: 40d'), { code: 'sleep_too_long', layer, path: '/steps/0/sleep', needle: 'sleep:' });
    expectOne(yaml('steps:', '  - id: ok', '    approval: { signal: ok, timeout: 60d }'), { code: 'approval_timeout_too_long', layer, path: '/steps/0/approval/timeout', needle: 'approval:' });
  });

  it('step_timeout_exceeds_run', () => {
    expectOne(yaml('timeout: 1m', 'steps:', '  - id: a', '    action: task', '    timeout: 5m'), { code: 'step_timeout_exceeds_run', layer, path: '/steps/0/timeout', needle: 'timeout: 5m' });
  });

  it('wait_exceeds_run_timeout and unbounded_wait are warnings', () => {
    expectOne(yaml('timeout: 1m', 'steps:', '  - id: nap', '    sleep: 1h'), { code: 'wait_exceeds_run_timeout', layer, severity: 'warning', path: '/steps/0/sleep', needle: 'sleep:' });
    expectOne(yaml('steps:', '  - id: ok', '    approval: { signal: ok }'), { code: 'unbounded_wait', layer, severity: 'warning', path: '/steps/0/approval', needle: 'approval:' });
  });
});

describe('compatibility layer', () => {
  const layer = 'compatibility' as const;
  const v1 = parse(
    ['name: demo', 'version: 1.0.0', 'inputs: { type: object, required: [user_id], properties: { user_id: { type: string }, plan: { enum: [free, pro] } } }', 'security: { actions: [task] }', 'steps: [{ id: a, action: task }]', ''].join('\n'),
  ).manifest;
  const ctx: ValidationContext = { actions, versionsOf: registry({ demo: [{ version: '1.0.0', manifest: v1 }, { version: '0.9.0' }] }) };
  const next = (version: string, inputs: string) =>
    [`name: demo`, `version: ${version}`, `inputs:`, ...inputs.split('\n').map((l) => `  ${l}`), 'security: { actions: [task] }', 'steps: [{ id: a, action: task }]', ''].join('\n');

  it('breaking_inputs_change: a minor version that refuses what 1.0.0 accepted, at the changed line', () => {
    const text = next('1.1.0', 'type: object\nrequired: [user_id, email]\nproperties:\n  user_id: { type: string }\n  email: { type: string }\n  plan: { enum: [free] }');
    const findings = findingsOf(text, ctx).filter((f) => f.code === 'breaking_inputs_change');
    expect(findings.map((f) => [f.layer, f.severity, f.path, f.line])).toEqual([
      [layer, 'error', '/inputs/required', lineOf(text, 'required:')],
      [layer, 'error', '/inputs/properties/plan/enum', lineOf(text, 'plan:')],
    ]);
    expect(findings[0].message).toMatch(/inputs\.email: is now required; .*needs a new major version \(2\.0\.0\)/);
  });

  it('accepts the same change in a new major version', () => {
    const text = next('2.0.0', 'type: object\nrequired: [user_id, email]\nproperties: { user_id: { type: string }, email: { type: string } }');
    expect(findingsOf(text, ctx)).toEqual([]);
  });

  it('possibly_breaking_inputs_change is a warning', () => {
    const text = next('1.1.0', 'type: object\nrequired: [user_id]\nproperties: { user_id: { type: string }, plan: { enum: [free, pro] }, phone: { type: string } }');
    expectOne(text, { code: 'possibly_breaking_inputs_change', layer, severity: 'warning', path: '/inputs', needle: 'inputs:' }, ctx);
  });

  it('version_immutable: the same version with other content', () => {
    const text = next('1.0.0', 'type: object');
    expectOne(text, { code: 'version_immutable', layer, path: '/version', needle: 'version:' }, ctx);
    const same = ['name: demo', 'version: 1.0.0', 'inputs: { type: object, required: [user_id], properties: { user_id: { type: string }, plan: { enum: [free, pro] } } }', 'security: { actions: [task] }', 'steps: [{ id: a, action: task }]', ''].join('\n');
    expect(findingsOf(same, ctx).map((f) => f.code)).toEqual(['compatibility_unchecked']); // against 0.9.0, whose inputs are unknown
  });

  it('the lifecycle flags may change on a registered version: deprecated or retired later is not other content', () => {
    const base = ['name: demo', 'version: 1.0.0', 'inputs: { type: object, required: [user_id], properties: { user_id: { type: string }, plan: { enum: [free, pro] } } }', 'security: { actions: [task] }', 'steps: [{ id: a, action: task }]'];
    for (const flags of [['deprecated: true'], ['retired: true'], ['deprecated: true', 'retired: true']]) {
      const text = [...base, ...flags, ''].join('\n');
      expect(findingsOf(text, ctx).map((f) => f.code)).toEqual(['compatibility_unchecked']);
    }
    // With other content as well, the flags do not hide it.
    expect(findingsOf([...base.slice(0, 4), 'steps: [{ id: b, action: task }]', 'retired: true', ''].join('\n'), ctx).map((f) => f.code)).toContain('version_immutable');
  });

  it('compatibility_unchecked when the previous manifest is unknown', () => {
    const text = next('0.9.5', 'type: object');
    expectOne(text, { code: 'compatibility_unchecked', layer, severity: 'warning', path: '/inputs', needle: 'inputs:' }, ctx);
  });
});

describe('validateWorkflowSet', () => {
  const file = (name: string, version: string, ...steps: string[]) => {
    const text = [`name: ${name}`, `version: ${version}`, 'security: { actions: [task] }', 'steps:', ...steps, ''].join('\n');
    return { text, ...parse(text, `${name}.yaml`) };
  };

  it('resolves sub-workflows within the set and finds cycles across files', () => {
    const a = file('flow-a', '1.0.0', '  - id: call_b', '    workflow: flow-b@^1');
    const b = file('flow-b', '1.0.0', '  - id: call_c', '    workflow: flow-c@^1');
    const c = file('flow-c', '1.0.0', '  - id: call_a', '    workflow: flow-a@^1');
    const d = file('flow-d', '1.0.0', '  - id: call_b', '    workflow: flow-b@^1');
    const results = validateWorkflowSet([a, b, c, d], { actions });
    for (const [key, entry] of [['flow-a@1.0.0', a], ['flow-b@1.0.0', b], ['flow-c@1.0.0', c]] as const) {
      const findings = results.get(key) ?? [];
      expect(findings.map((f) => [f.code, f.layer, f.path, f.file, f.line])).toEqual([['workflow_cycle', 'semantic', '/steps/0/workflow', `${entry.manifest.name}.yaml`, lineOf(entry.text, 'workflow:')]]);
    }
    expect(results.get('flow-a@1.0.0')?.[0].message).toBe('sub-workflows form a cycle: flow-a@1.0.0 → flow-b@1.0.0 → flow-c@1.0.0 → flow-a@1.0.0');
    // flow-d calls into the cycle but is not on it.
    expect(results.get('flow-d@1.0.0')).toEqual([]);
  });

  it('refuses two files with the same name@version and different content', () => {
    const one = file('dup', '1.0.0', '  - { id: a, action: task }');
    const two = file('dup', '1.0.0', '  - { id: b, action: task }');
    const findings = validateWorkflowSet([one, two], { actions }).get('dup@1.0.0') ?? [];
    expect(findings.filter((f) => f.code === 'version_immutable')).toHaveLength(2);
  });

  it('two files naming one name@version must agree on the lifecycle flags too', () => {
    const one = file('dup', '1.0.0', '  - { id: a, action: task }');
    const text = `${one.text}retired: true\n`;
    const two = { text, ...parse(text, 'dup-2.yaml') };
    const findings = validateWorkflowSet([one, two], { actions }).get('dup@1.0.0') ?? [];
    expect(findings.filter((f) => f.code === 'version_immutable')).toHaveLength(2);
  });

  it('reports a reference to a workflow that is neither in the set nor registered', () => {
    const a = file('flow-a', '1.0.0', '  - id: call', '    workflow: nowhere@^1');
    expect(validateWorkflowSet([a], { actions }).get('flow-a@1.0.0')?.map((f) => f.code)).toEqual(['unknown_workflow']);
  });
});

describe('applyValidationMode', () => {
  const findings: Finding[] = [
    { layer: 'semantic', severity: 'error', code: 'duplicate_step_id', message: 'x', path: '/steps/1/id' },
    { layer: 'limits', severity: 'error', code: 'too_many_steps', message: 'x', path: '/steps' },
    { layer: 'compatibility', severity: 'error', code: 'breaking_inputs_change', message: 'x', path: '/inputs' },
  ];

  it('strict refuses any error', () => {
    expect(applyValidationMode(findings, 'strict')).toEqual({ accepted: false, findings });
    expect(applyValidationMode([], 'strict').accepted).toBe(true);
  });

  it('permissive turns limits and compatibility errors into warnings', () => {
    const result = applyValidationMode(findings, 'permissive');
    expect(result.findings.map((f) => f.severity)).toEqual(['error', 'warning', 'warning']);
    expect(result.accepted).toBe(false);
    expect(applyValidationMode(findings.slice(1), 'permissive').accepted).toBe(true);
  });

  it('audit accepts everything and keeps errors as errors', () => {
    expect(applyValidationMode(findings, 'audit')).toEqual({ accepted: true, findings });
  });
});

describe('formatFinding', () => {
  it('writes file:line: severity [layer/code] message (path)', () => {
    expect(formatFinding({ layer: 'security', severity: 'error', code: 'inline_secret', message: 'a token', file: 'demo.yaml', line: 12, path: '/steps/0/with/token' })).toBe(
      'demo.yaml:12: error [security/inline_secret] a token (/steps/0/with/token)',
    );
    expect(formatFinding({ layer: 'syntax', severity: 'warning', code: 'c', message: 'm', path: '' })).toBe('<manifest>: warning [syntax/c] m (/)');
  });
});

describe('indexSteps', () => {
  it('lists every step with depth, block and what it can see', () => {
    const { manifest } = parse(yaml('steps:', '  - id: a', '    action: task', '  - id: p', '    parallel:', '      - { id: l, action: task }', '      - { id: r, action: task }', '  - id: z', '    action: task'));
    const index = indexSteps(manifest);
    expect(index.steps.map((s) => [s.step.id, s.depth, s.block, [...s.visible]])).toEqual([
      ['a', 1, ['a', 'p', 'z'], []],
      ['p', 1, ['a', 'p', 'z'], ['a']],
      ['l', 2, ['l'], ['a']],
      ['r', 2, ['r'], ['a']],
      ['z', 1, ['a', 'p', 'z'], ['a', 'p', 'l', 'r']],
    ]);
  });
});
