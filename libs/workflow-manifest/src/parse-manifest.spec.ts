import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RETRY_POLICY, type Finding } from './manifest.types';
import { parseManifest, sameDefinition } from './parse-manifest';

const example = readFileSync(join(__dirname, 'fixtures/onboard-learner.yaml'), 'utf8');

/** 1-based line of the first line containing `needle` (findings must point exactly there). */
function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  if (index < 0) throw new Error(`"${needle}" is not in the text`);
  return index + 1;
}

const header = ['name: demo', 'version: 1.0.0', 'security: { actions: [task, email, http] }'];
const manifest = (...lines: string[]) => [...header, ...lines].join('\n') + '\n';

function only(text: string, code: string): Finding {
  const { manifest: parsed, findings } = parseManifest(text, { file: 'demo.yaml' });
  const matching = findings.filter((f) => f.code === code);
  expect(matching).toHaveLength(1);
  expect(parsed).toBeUndefined();
  return matching[0];
}

function expectFinding(text: string, code: string, path: string, needle: string, message?: RegExp): Finding {
  const finding = only(text, code);
  expect(finding).toMatchObject({ layer: 'syntax', severity: 'error', code, path, file: 'demo.yaml', line: lineOf(text, needle) });
  if (message) expect(finding.message).toMatch(message);
  return finding;
}

describe('parseManifest: the example manifest from WORKFLOWS.md', () => {
  const { manifest: m, findings } = parseManifest(example, { file: 'onboard-learner.yaml', expectedName: 'onboard-learner' });

  it('parses with no findings', () => {
    expect(findings).toEqual([]);
    expect(m).toBeDefined();
  });

  it('normalises durations, retry, steps and their sources', () => {
    expect(m?.timeout_ms).toBe(600_000);
    expect(m?.retry).toEqual({
      max_attempts: 5,
      initial_interval_ms: 1_000,
      backoff_coefficient: 2,
      max_interval_ms: 60_000,
      non_retryable: ['missing_recipient', 'missing_subject', 'unsupported_action_type'],
    });
    expect(m?.steps.map((s) => [s.id, s.kind, s.source.line])).toEqual([
      ['create_task', 'action', lineOf(example, 'id: create_task')],
      ['notify', 'parallel', lineOf(example, 'id: notify')],
      ['summary', 'action', lineOf(example, 'id: summary')],
      ['approve', 'approval', lineOf(example, 'id: approve')],
      ['per_platform', 'foreach', lineOf(example, 'id: per_platform')],
      ['wait', 'sleep', lineOf(example, 'id: wait')],
    ]);
    const [createTask, notify, , approve, perPlatform, wait] = m?.steps ?? [];
    expect(createTask).toMatchObject({ timeout_ms: 5_000, with: { title: 'Welcome {{ inputs.user_id }}' } });
    expect(notify).toMatchObject({ kind: 'parallel', join: 'all', fail_fast: true, branches: [{ id: 'mail' }, { id: 'text', if: 'has(inputs.phone)' }] });
    expect(approve).toMatchObject({ signal: 'mentor_ok', timeout_ms: 2 * 86_400_000, on_timeout: 'fail' });
    expect(perPlatform).toMatchObject({
      items: 'inputs.platforms',
      concurrency: 4,
      body: { kind: 'workflow', workflow: { name: 'publish-one', range: '^1' }, with: { platform: '{{ item }}' } },
    });
    expect(wait).toMatchObject({ duration_ms: 3_600_000 });
    expect(m?.on_failure).toEqual({ workflow: { name: 'notify-ops', range: '^1' } });
    expect(m?.triggers[0]).toMatchObject({ name: 'user.signed_up#0', event: 'user.signed_up', if: 'event.data.plan != "trial"' });
    expect(m?.tests[0]).toMatchObject({ name: 'happy path', signals: {}, expect: { status: 'completed', steps_taken: ['create_task', 'mail', 'summary'] } });
  });

  it('hashes the document, not its formatting', () => {
    const reformatted = parseManifest(`# a comment\n${example.replace('name: onboard-learner', 'name:   onboard-learner   # spaced')}`).manifest;
    expect(reformatted?.content_hash).toBe(m?.content_hash);
    expect(m?.content_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(parseManifest(example.replace('First lesson', 'Second lesson')).manifest?.content_hash).not.toBe(m?.content_hash);
  });

  it('the lifecycle flags change the content hash but not the definition: the same version with its state changed', () => {
    const flagged = (flags: string) => parseManifest(example.replace('name: onboard-learner', `name: onboard-learner\n${flags}`)).manifest!;
    for (const flags of ['deprecated: true', 'retired: true', 'deprecated: true\nretired: true', 'retired: false']) {
      const other = flagged(flags);
      expect(other.definition_hash).toBe(m?.definition_hash);
      expect(sameDefinition(other, m!)).toBe(true);
    }
    expect(flagged('retired: true').content_hash).not.toBe(m?.content_hash);
    const edited = parseManifest(example.replace('First lesson', 'Second lesson')).manifest!;
    expect(sameDefinition(edited, m!)).toBe(false);
    // A manifest stored before definition_hash existed: the same content hash is the same definition, nothing else is.
    expect(sameDefinition({ content_hash: m!.content_hash }, m!)).toBe(true);
    expect(sameDefinition({ content_hash: flagged('retired: true').content_hash }, m!)).toBe(false);
  });
});

describe('parseManifest: normalisation', () => {
  it('merges retry field by field: step over manifest over default', () => {
    const text = manifest(
      'retry: { max_attempts: 4, initial_interval: 2s }',
      'steps:',
      '  - id: a',
      '    action: task',
      '    retry: { max_interval: 10s }',
      '  - id: b',
      '    action: task',
    );
    const m = parseManifest(text).manifest;
    expect(m?.retry).toEqual({ ...DEFAULT_RETRY_POLICY, max_attempts: 4, initial_interval_ms: 2_000 });
    expect(m?.steps[0]).toMatchObject({ retry: { max_attempts: 4, initial_interval_ms: 2_000, max_interval_ms: 10_000 } });
    expect(m?.steps[1]).toMatchObject({ retry: m?.retry, with: {} });
  });

  it('a sub-workflow step retries only with its own retry, filled from the manifest\'s (one attempt otherwise)', () => {
    const text = manifest(
      'retry: { max_attempts: 4, initial_interval: 2s }',
      'steps:',
      '  - id: plain',
      '    workflow: kid@^1',
      '  - id: asked',
      '    workflow: kid@^1',
      '    retry: { max_interval: 10s }',
      '  - id: each',
      '    foreach: "[1]"',
      '    workflow: kid@^1',
    );
    const m = parseManifest(text).manifest;
    expect(m?.steps[0]).toMatchObject({ kind: 'workflow', retry: { ...m?.retry, max_attempts: 1 } });
    expect(m?.steps[1]).toMatchObject({ retry: { max_attempts: 4, initial_interval_ms: 2_000, max_interval_ms: 10_000 } });
    expect(m?.steps[2]).toMatchObject({ kind: 'foreach', body: { kind: 'workflow', retry: { max_attempts: 1 } } });
  });

  it('reads switch cases (when or if) with a default entry, groups, foreach bodies and sleep until', () => {
    const text = manifest(
      'steps:',
      '  - id: route',
      '    switch:',
      '      - when: inputs.plan == "pro"',
      '        steps: [{ id: pro_task, action: task }]',
      '      - if: "{{ inputs.plan == \\"team\\" }}"',
      '        steps: [{ id: team_task, action: task }]',
      '      - default: [{ id: free_task, action: task }]',
      '  - id: batch',
      '    steps:',
      '      - { id: first, action: task }',
      '      - { id: second, action: email }',
      '  - id: each',
      '    foreach: inputs.items',
      '    steps: [{ id: per_item, action: task, with: { title: "{{ item }}" } }]',
      '  - id: later',
      '    sleep: { until: "{{ inputs.at }}" }',
      '  - id: short',
      '    sleep: 1500',
    );
    const { manifest: m, findings } = parseManifest(text);
    expect(findings).toEqual([]);
    const [route, batch, each, later, short] = m?.steps ?? [];
    expect(route).toMatchObject({
      kind: 'switch',
      cases: [
        { when: 'inputs.plan == "pro"', steps: [{ id: 'pro_task' }], source: { pointer: '/steps/0/switch/0', line: lineOf(text, 'when: inputs') } },
        { when: 'inputs.plan == "team"', steps: [{ id: 'team_task' }] },
      ],
      default: [{ id: 'free_task', source: { pointer: '/steps/0/switch/2/default/0' } }],
    });
    expect(batch).toMatchObject({ kind: 'group', steps: [{ id: 'first' }, { id: 'second', action: 'email' }] });
    expect(each).toMatchObject({ kind: 'foreach', concurrency: 1, body: { kind: 'group', steps: [{ id: 'per_item' }] } });
    expect(later).toEqual({ id: 'later', kind: 'sleep', until: '{{ inputs.at }}', source: { pointer: '/steps/3', line: lineOf(text, 'id: later') } });
    expect(short).toMatchObject({ duration_ms: 1_500 });
  });

  it('fills trigger and test defaults', () => {
    const text = manifest(
      'triggers:',
      '  - event: kpi.*',
      '    key: event.subject',
      '    threshold: { field: event.data.score, above: 0.8 }',
      '    delta: { field: event.data.score, min_change: 0.1 }',
      '    dedup: { window: 5m }',
      '    rate_limit: { max: 3, per: 1h }',
      '    debounce: { quiet: 30s }',
      'steps: [{ id: a, action: task }]',
      'tests:',
      '  - name: fails',
      '    stub: { a: { error: provider_down } }',
      '    expect: { status: failed, error: provider_down }',
    );
    const { manifest: m, findings } = parseManifest(text);
    expect(findings).toEqual([]);
    expect(m?.triggers[0]).toEqual({
      name: 'kpi.*#0',
      event: 'kpi.*',
      key: 'event.subject',
      threshold: { field: 'event.data.score', above: 0.8, on: 'crossing' },
      delta: { field: 'event.data.score', min_change: 0.1, relative: false },
      dedup: { window_ms: 300_000 },
      rate_limit: { max: 3, per_ms: 3_600_000, mode: 'drop' },
      debounce: { quiet_ms: 30_000 },
      inputs: '{{ event.data }}',
      source: { pointer: '/triggers/0', line: lineOf(text, 'event: kpi') },
    });
    expect(m?.tests[0]).toMatchObject({ inputs: {}, stub: { a: { error: { code: 'provider_down' } } }, expect: { status: 'failed', error: 'provider_down' } });
  });

  it('reads step on_failure forms and a run on_failure with compensating steps', () => {
    const text = manifest(
      'steps:',
      '  - { id: a, action: task, on_failure: { goto: c } }',
      '  - { id: b, action: task, on_failure: { workflow: "fallback@^2", with: { x: 1 } } }',
      '  - { id: c, action: task }',
      'on_failure:',
      '  steps: [{ id: undo, action: task }]',
    );
    const m = parseManifest(text).manifest;
    expect(m?.steps[0].on_failure).toEqual({ goto: 'c' });
    expect(m?.steps[1].on_failure).toEqual({ workflow: { name: 'fallback', range: '^2' }, with: { x: 1 } });
    expect(m?.on_failure).toMatchObject({ steps: [{ id: 'undo', source: { pointer: '/on_failure/steps/0' } }] });
  });
});

describe('parseManifest: syntax findings', () => {
  it('yaml_syntax: a YAML error with its line', () => {
    const text = ['name: demo', 'version: 1.0.0', 'steps:', '  - id: a', '     action: task', ''].join('\n');
    const { manifest: m, findings } = parseManifest(text, { file: 'demo.yaml' });
    expect(m).toBeUndefined();
    expect(findings.length).toBeGreaterThan(0);
    for (const finding of findings) {
      expect(finding).toMatchObject({ layer: 'syntax', severity: 'error', code: 'yaml_syntax', path: '', file: 'demo.yaml', line: lineOf(text, 'id: a') });
    }
  });

  it('yaml_syntax: a duplicate key, named, at its line', () => {
    const text = manifest('steps: [{ id: a, action: task }]', 'version: 2.0.0');
    expect(only(text, 'yaml_syntax')).toMatchObject({ line: lineOf(text, 'version: 2.0.0'), message: expect.stringContaining('"version"') });
  });

  it('yaml_warning: an unresolved tag is a warning, and the value stays a string', () => {
    const text = manifest('description: !custom hello', 'steps: [{ id: a, action: task, with: { b: !!binary aGVsbG8= } }]');
    const { manifest: m, findings } = parseManifest(text, { file: 'demo.yaml' });
    expect(findings.map((f) => [f.layer, f.severity, f.code, f.line])).toEqual([
      ['syntax', 'warning', 'yaml_warning', lineOf(text, 'description:')],
      ['syntax', 'warning', 'yaml_warning', lineOf(text, '!!binary')],
    ]);
    expect(m?.description).toBe('hello');
    expect(m?.steps[0]).toMatchObject({ with: { b: 'aGVsbG8=' } });
  });

  it('empty_manifest and not_a_mapping', () => {
    expect(only('', 'empty_manifest')).toMatchObject({ line: 1, path: '' });
    expect(only('- a\n- b\n', 'not_a_mapping')).toMatchObject({ line: 1, path: '' });
  });

  it('unknown_key: a top-level typo, with a suggestion', () => {
    expectFinding(manifest('tiemout: 5m', 'steps: [{ id: a, action: task }]'), 'unknown_key', '/tiemout', 'tiemout:', /unknown key "tiemout"; did you mean "timeout"\?/);
  });

  it('unknown_key: a typo inside a step', () => {
    const text = manifest('steps:', '  - id: a', '    action: task', '    wiht: { title: x }');
    expectFinding(text, 'unknown_key', '/steps/0/wiht', 'wiht:', /did you mean "with"/);
  });

  it('missing_key: no version, and a step without id', () => {
    const text = ['name: demo', 'steps:', '  - action: task', ''].join('\n');
    const { findings } = parseManifest(text, { file: 'demo.yaml' });
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'missing_key', path: '/version', line: 1, message: '"version" is required' }),
        expect.objectContaining({ code: 'missing_key', path: '/steps/0/id', line: lineOf(text, 'action: task') }),
      ]),
    );
  });

  it('wrong_type', () => {
    expectFinding(manifest('enabled: "yes"', 'steps: [{ id: a, action: task }]'), 'wrong_type', '/enabled', 'enabled:', /must be a boolean/);
  });

  it('invalid_value: an unknown join, an empty step list, a bad migration key', () => {
    expectFinding(manifest('steps:', '  - id: p', '    join: some', '    parallel: [{ id: a, action: task }]'), 'invalid_value', '/steps/0/join', 'join:', /one of "all", "any"/);
    expectFinding(manifest('steps: []'), 'invalid_value', '/steps', 'steps:', /must not be empty/);
    expectFinding(manifest('steps: [{ id: a, action: task }]', 'migrations:', '  v1: { a: b }'), 'invalid_value', '/migrations/v1', 'v1:', /must look like 1.x/);
  });

  it('invalid_duration', () => {
    expectFinding(manifest('timeout: 10 minutes', 'steps: [{ id: a, action: task }]'), 'invalid_duration', '/timeout', 'timeout:', /invalid duration "10 minutes"; write it like 250ms/);
    expectFinding(manifest('steps: [{ id: a, action: task, timeout: "30" }]'), 'invalid_duration', '/steps/0/timeout', 'steps:', /has no unit/);
  });

  it('invalid_version', () => {
    const text = ['name: demo', 'version: v1.2.0', 'steps: [{ id: a, action: task }]', ''].join('\n');
    expectFinding(text, 'invalid_version', '/version', 'version:', /"v1.2.0" is not a version/);
  });

  it('invalid_name', () => {
    const text = ['name: Demo_Flow', 'version: 1.0.0', 'steps: [{ id: a, action: task }]', ''].join('\n');
    expectFinding(text, 'invalid_name', '/name', 'name:', /lower-case letters, digits and hyphens/);
  });

  it('invalid_step_id', () => {
    expectFinding(manifest('steps:', '  - id: create-task', '    action: task'), 'invalid_step_id', '/steps/0/id', 'id: create-task', /steps\.<id>/);
  });

  it('invalid_workflow_ref', () => {
    expectFinding(manifest('steps:', '  - id: a', '    workflow: publish-one@latest'), 'invalid_workflow_ref', '/steps/0/workflow', 'workflow:', /invalid version range "latest"/);
  });

  it('name_mismatch', () => {
    const text = manifest('steps: [{ id: a, action: task }]');
    const { manifest: m, findings } = parseManifest(text, { file: 'other.yaml', expectedName: 'other' });
    expect(m).toBeUndefined();
    expect(findings).toEqual([
      { layer: 'syntax', severity: 'error', code: 'name_mismatch', path: '/name', line: 1, column: 1, file: 'other.yaml', message: 'name "demo" does not match the file name "other"' },
    ]);
  });

  it('invalid_json_schema', () => {
    const text = manifest('inputs:', '  type: object', '  properties:', '    n: { type: integr }', 'steps: [{ id: a, action: task }]');
    expectFinding(text, 'invalid_json_schema', '/inputs', 'inputs:', /inputs: invalid JSON Schema/);
  });

  it('missing_step_kind', () => {
    expectFinding(manifest('steps:', '  - id: idle', '    description: nothing'), 'missing_step_kind', '/steps/0', 'id: idle', /does nothing/);
  });

  it('ambiguous_step_kind', () => {
    expectFinding(manifest('steps:', '  - id: both', '    action: task', '    sleep: 1s'), 'ambiguous_step_kind', '/steps/0/sleep', 'sleep:', /has action and sleep/);
  });

  it('key_not_applicable', () => {
    expectFinding(manifest('steps:', '  - id: a', '    action: task', '    join: any'), 'key_not_applicable', '/steps/0/join', 'join:', /belongs to parallel steps/);
  });

  it('invalid_foreach_body', () => {
    expectFinding(manifest('steps:', '  - id: each', '    foreach: inputs.items', '    concurrency: 2'), 'invalid_foreach_body', '/steps/0', 'id: each', /needs a body/);
    expectFinding(
      manifest('steps:', '  - id: each', '    foreach: inputs.items', '    action: task', '    workflow: other@^1'),
      'invalid_foreach_body',
      '/steps/0/workflow',
      'workflow:',
      /exactly one body/,
    );
  });

  it('invalid_switch_case', () => {
    const text = manifest('steps:', '  - id: route', '    switch:', '      - default: [{ id: a, action: task }]', '      - when: "true"', '        steps: [{ id: b, action: task }]');
    expectFinding(text, 'invalid_switch_case', '/steps/0/switch/0', 'default:', /must be the last one/);
    expectFinding(manifest('steps:', '  - id: route', '    switch:', '      - when: "true"'), 'invalid_switch_case', '/steps/0/switch/0', 'when:', /needs steps/);
  });

  it('invalid_on_failure', () => {
    expectFinding(manifest('steps:', '  - id: a', '    action: task', '    on_failure: { continue: true, goto: b }'), 'invalid_on_failure', '/steps/0/on_failure', 'on_failure:', /exactly one of/);
    const text = manifest('steps: [{ id: a, action: task }]', 'on_failure:', '  with: { a: 1 }');
    expect(parseManifest(text).findings).toEqual([
      expect.objectContaining({ code: 'invalid_on_failure', path: '/on_failure', line: lineOf(text, 'on_failure:'), message: expect.stringMatching(/workflow: <name@range>, steps/) }),
      expect.objectContaining({ code: 'invalid_on_failure', path: '/on_failure/with', line: lineOf(text, 'with:'), message: expect.stringMatching(/applies only to on_failure.workflow/) }),
    ]);
  });

  it('duplicate_timeout', () => {
    expectFinding(manifest('steps:', '  - id: ok', '    timeout: 1d', '    approval: { signal: ok, timeout: 2d }'), 'duplicate_timeout', '/steps/0/timeout', 'timeout: 1d', /once/);
  });

  it('invalid_threshold', () => {
    expectFinding(manifest('triggers:', '  - event: kpi.score', '    threshold: { field: event.data.x }', 'steps: [{ id: a, action: task }]'), 'invalid_threshold', '/triggers/0/threshold', 'threshold:', /exactly one of above or below/);
  });

  describe('invalid_window: a trigger window of 0 (the filter would let every event through) or past the longest', () => {
    const trigger = (filter: string) => manifest('triggers:', '  - event: kpi.score', `    ${filter}`, 'steps: [{ id: a, action: task }]');
    it.each([
      ['rate_limit: { max: 3, per: 0s }', '/triggers/0/rate_limit/per', /^triggers\[0\]\.rate_limit\.per must be longer than 0: /],
      ['rate_limit: { max: 3, per: 0 }', '/triggers/0/rate_limit/per', /^triggers\[0\]\.rate_limit\.per must be longer than 0: /],
      ['debounce: { quiet: 0s }', '/triggers/0/debounce/quiet', /^triggers\[0\]\.debounce\.quiet must be longer than 0: /],
      ['debounce: { quiet: "0" }', '/triggers/0/debounce/quiet', /^triggers\[0\]\.debounce\.quiet must be longer than 0: /],
      ['dedup: { window: 0ms }', '/triggers/0/dedup/window', /^triggers\[0\]\.dedup\.window must be longer than 0: /],
      // Rounds to 0 ms, as the router would hold it.
      ['dedup: { window: 0.4ms }', '/triggers/0/dedup/window', /must be longer than 0/],
      ['dedup: { window: 366d }', '/triggers/0/dedup/window', /^triggers\[0\]\.dedup\.window 366d is longer than the longest trigger window, 365d/],
      // Past JavaScript's last date once added to the clock: the router could not have shown the time it ends.
      ['dedup: { window: 100000000d }', '/triggers/0/dedup/window', /is longer than the longest trigger window, 365d/],
      ['rate_limit: { max: 1, per: 31536000001 }', '/triggers/0/rate_limit/per', /^triggers\[0\]\.rate_limit\.per 365d1ms is longer than the longest trigger window, 365d/],
      ['debounce: { quiet: 8761h }', '/triggers/0/debounce/quiet', /^triggers\[0\]\.debounce\.quiet 8761h is longer/],
    ])('%s', (filter, path, message) => {
      expectFinding(trigger(filter), 'invalid_window', path, filter.split(':')[0] + ':', message);
    });

    it('an unparsable window is still invalid_duration; 1ms and 365d are windows', () => {
      expectFinding(trigger('debounce: { quiet: soon }'), 'invalid_duration', '/triggers/0/debounce/quiet', 'debounce:', /invalid duration "soon"/);
      expectFinding(trigger('dedup: { window: -5 }'), 'invalid_duration', '/triggers/0/dedup/window', 'dedup:', /non-negative/);
      for (const filter of ['dedup: { window: 1ms }', 'dedup: { window: 365d }', 'rate_limit: { max: 1, per: 31536000000 }', 'debounce: { quiet: 1 }']) {
        expect({ filter, findings: parseManifest(trigger(filter)).findings }).toEqual({ filter, findings: [] });
      }
    });
  });

  it('invalid_value: rate_limit.max past 1000 (the router keeps each start of the window in the key\'s state), naming the field', () => {
    const trigger = (max: string) => manifest('triggers:', '  - event: kpi.score', `    rate_limit: { max: ${max}, per: 1h }`, 'steps: [{ id: a, action: task }]');
    for (const max of ['1001', '1000000000000000', '1e20']) {
      expectFinding(trigger(max), 'invalid_value', '/triggers/0/rate_limit/max', 'rate_limit:', /^triggers\[0\]\.rate_limit\.max must be at most 1000 \(.*state/);
    }
    expectFinding(trigger('0'), 'invalid_value', '/triggers/0/rate_limit/max', 'rate_limit:', /must be at least 1/);
    expect(parseManifest(trigger('1000')).manifest?.triggers[0].rate_limit).toEqual({ max: 1000, per_ms: 3_600_000, mode: 'drop' });
  });

  it('reports every problem of a document at once', () => {
    const text = ['name: Bad', 'version: 1', 'steps:', '  - id: A', '    action: task', '    timeout: soon', ''].join('\n');
    const codes = parseManifest(text).findings.map((f) => f.code).sort();
    expect(codes).toEqual(['invalid_duration', 'invalid_name', 'invalid_step_id', 'wrong_type']);
  });
});

describe('finding positions', () => {
  it('gives the line and column of the offending key, so editors jump to it', () => {
    const text = ['name: demo', 'version: 1.0.0', 'steps:', '  - id: Bad-Id', '    action: task', ''].join('\n');
    const { findings } = parseManifest(text, { file: 'demo.yaml' });
    expect(findings).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/steps/0/id', line: 4, column: 5 })]));
  });
});
