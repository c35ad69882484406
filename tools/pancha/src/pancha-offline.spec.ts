/**
 * The offline commands (validate, test, docs, generate, import) as a user runs them: the built binary in a child
 * process, on files in temporary directories and on the shipped workflows/. No service is needed.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { json, pancha, REPO_ROOT } from './testing/run-cli';

jest.setTimeout(120_000);

const tmp = (label: string) => mkdtempSync(path.join(tmpdir(), `pancha-${label}-`));
const FIXTURES = path.join(__dirname, 'fixtures');

const GOOD = `name: greet
version: 1.0.0
security:
  actions: [task]
steps:
  - id: make_task
    action: task
    with: { title: hello, description: world }
tests:
  - name: makes the task
    inputs: {}
    stub: { make_task: { output: { task_id: t1 } } }
    expect: { status: completed, output: { task_id: t1 }, steps_taken: [make_task] }
`;

describe('a reader that closes the pipe early (| head)', () => {
  it('ends the CLI quietly with status 141 (as SIGPIPE would), not an EPIPE stack trace', async () => {
    const res = await pancha(['--json', 'workflows', 'validate'], { closeStdout: true });
    expect(res.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(res.status).toBe(141);
  });
});

describe('pancha workflows validate', () => {
  it('passes the shipped workflows/ (exit 0) and prints a summary', async () => {
    const res = await pancha(['workflows', 'validate']);
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/^\d+ files: 0 errors, \d+ warnings? \(strict\)$/m);
  });

  it('prints file:line:col code message for each finding and exits 1 on errors', async () => {
    const dir = tmp('validate');
    writeFileSync(path.join(dir, 'greet.yaml'), GOOD);
    writeFileSync(
      path.join(dir, 'broken.yaml'),
      ['name: broken', 'version: 1.0.0', 'security:', '  actions: [task]', 'steps:', '  - id: first', '    action: fax', '    with: {}', '  - id: call', '    workflow: missing-one@^1', ''].join('\n'),
    );
    const res = await pancha(['workflows', 'validate', dir], { cwd: dir });
    expect(res.status).toBe(1);
    expect(res.stdout).toMatch(/^broken\.yaml:7:5: error unknown_action .*fax.* \(at \/steps\/0\/action\)$/m);
    // the set check: a sub-workflow reference that resolves to nothing in the set
    expect(res.stdout).toMatch(/^broken\.yaml:10:5: \w+ \w+ .*missing-one/m);
    expect(res.stdout).not.toContain('greet.yaml');
    expect(res.stdout).toMatch(/2 files: [1-9]\d* errors?/);
  });

  it('knows the actions of plugins/ as the executor does (described in the same fenced worker)', async () => {
    const manifest = path.join(REPO_ROOT, 'workflows', 'release-announce.yaml');
    const withPlugins = await pancha(['workflows', 'validate', manifest]);
    expect(withPlugins.status).toBe(0);
    const withoutPlugins = await pancha(['workflows', 'validate', manifest], { env: { PLUGINS_DIR: tmp('no-plugins') } });
    expect(withoutPlugins.status).toBe(1);
    expect(withoutPlugins.stdout).toMatch(/error unknown_action .*slack-webhook/);
  });

  it('--json gives per-file verdicts; plugin actions can be declared with --actions', async () => {
    const dir = tmp('validate-json');
    writeFileSync(path.join(dir, 'faxer.yaml'), GOOD.replace('name: greet', 'name: faxer').replace(/task\b/g, 'fax').replace(/make_fax/g, 'make_task'));
    const refused = await pancha(['workflows', 'validate', dir, '--json']);
    expect(refused.status).toBe(1);
    expect(json(refused).files[0]).toMatchObject({ accepted: false, findings: expect.arrayContaining([expect.objectContaining({ code: 'unknown_action', line: expect.any(Number), column: expect.any(Number) })]) });
    const accepted = await pancha(['workflows', 'validate', dir, '--json', '--actions', 'fax']);
    expect(accepted.status).toBe(0);
    expect(json(accepted)).toMatchObject({ ok: true, errors: 0, files: [{ workflow: 'faxer@1.0.0', accepted: true }] });
  });

  it('a file that is not YAML is an error with its line, and a missing path is a usage error', async () => {
    const dir = tmp('validate-yaml');
    writeFileSync(path.join(dir, 'bad.yaml'), 'name: bad\nversion: [1.0.0\nsteps: []\n');
    const res = await pancha(['workflows', 'validate', path.join(dir, 'bad.yaml')], { cwd: dir });
    expect(res.status).toBe(1);
    expect(res.stdout).toMatch(/^bad\.yaml:\d+:\d+: error yaml_syntax /m);
    const none = await pancha(['workflows', 'validate', path.join(dir, 'empty-dir-that-is-not-there')]);
    expect(none.status).toBe(1);
    expect(none.stdout).toContain('unreadable_file');
  });
});

describe('pancha workflows test', () => {
  it('runs every shipped manifest\'s tests (exit 0), or one workflow\'s', async () => {
    const all = await pancha(['workflows', 'test']);
    expect(all.status).toBe(0);
    expect(all.stdout).toMatch(/✓ onboard-learner@[\d.]+ › happy path/);
    expect(all.stdout).toMatch(/\d+ passed, 0 failed \(\d+ workflows\)/);
    const one = await pancha(['workflows', 'test', 'publish-pack', '--json']);
    expect(one.status).toBe(0);
    const body = json(one);
    expect(body.ok).toBe(true);
    expect(new Set(body.results.map((r: { workflow: string }) => r.workflow))).toEqual(new Set(['publish-pack']));
  });

  it('a failing case exits 1 and says what did not match', async () => {
    const dir = tmp('test');
    writeFileSync(path.join(dir, 'greet.yaml'), GOOD.replace('output: { task_id: t1 }, steps', 'output: { task_id: t9 }, steps'));
    const res = await pancha(['workflows', 'test', '--dir', dir]);
    expect(res.status).toBe(1);
    expect(res.stdout).toContain('✗ greet@1.0.0 › makes the task');
    expect(res.stdout).toContain('output.task_id: expected "t9", got "t1"');
    expect(res.stdout).toContain('0 passed, 1 failed');
    const unknown = await pancha(['workflows', 'test', 'nope', '--dir', dir]);
    expect(unknown.status).toBe(2);
  });

  it('a case whose inputs the inputs schema refuses fails (exit 1), naming each field as a real start\'s 422 would', async () => {
    const dir = tmp('inputs');
    const strict = GOOD.replace('steps:\n', 'inputs:\n  type: object\n  required: [a]\n  additionalProperties: false\n  properties: { a: { type: integer } }\nsteps:\n').replace(
      '    inputs: {}\n    stub: { make_task: { output: { task_id: t1 } } }\n    expect: { status: completed, output: { task_id: t1 }, steps_taken: [make_task] }',
      '    inputs: { b: "str" }\n    stub: { make_task: { output: { task_id: t1 } } }\n    expect: { status: completed }',
    );
    writeFileSync(path.join(dir, 'greet.yaml'), strict);
    const res = await pancha(['workflows', 'test', '--dir', dir]);
    expect(res.status).toBe(1);
    expect(res.stdout).toContain('✗ greet@1.0.0 › makes the task');
    expect(res.stdout).toContain('inputs: a real start refuses them (422 inputs_invalid): inputs.a is required');
    expect(res.stdout).toContain('inputs: a real start refuses them (422 inputs_invalid): inputs.b is not allowed');
    expect(res.stdout).toContain('0 passed, 1 failed');
    // `workflows validate` refuses the same file for the same reason.
    const validated = await pancha(['workflows', 'validate', dir]);
    expect(validated.status).toBe(1);
    expect(validated.stdout).toContain('invalid_test_inputs');
  });

  it('an exception inside the engine fails the test it happened in, named with the error; the other tests still run (exit 1)', async () => {
    const dir = tmp('crash');
    // The crash is injected into the built engine the CLI loads: its interpreter throws for a run whose inputs say so.
    const preload = path.join(dir, 'crash-engine.js');
    writeFileSync(
      preload,
      `const { RunInterpreter } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist/libs/workflow-engine/src/interpreter.js'))});
const advance = RunInterpreter.prototype.advance;
RunInterpreter.prototype.advance = function (...args) {
  if (this.state.run.inputs && this.state.run.inputs.crash === true) throw new TypeError('injected engine crash');
  return advance.apply(this, args);
};
`,
    );
    const crashing = GOOD.replace('  - name: makes the task\n    inputs: {}', '  - name: crashes the engine\n    inputs: { crash: true }\n    stub: {}\n    expect: { status: completed }\n  - name: makes the task\n    inputs: {}');
    writeFileSync(path.join(dir, 'greet.yaml'), crashing);
    writeFileSync(path.join(dir, 'other.yaml'), GOOD.replace('name: greet', 'name: other'));
    const env = { NODE_OPTIONS: `--require ${preload}` };
    const res = await pancha(['workflows', 'test', '--dir', dir], { env });
    expect(res.status).toBe(1);
    expect(res.stdout).toContain('✗ greet@1.0.0 › crashes the engine');
    expect(res.stdout).toContain('the engine failed unexpectedly while running this test: TypeError: injected engine crash');
    expect(res.stdout).toContain('✓ greet@1.0.0 › makes the task');
    expect(res.stdout).toContain('✓ other@1.0.0 › makes the task');
    expect(res.stdout).toContain('2 passed, 1 failed (2 workflows)');
    const body = json(await pancha(['workflows', 'test', '--dir', dir, '--json'], { env }));
    expect(body).toMatchObject({ ok: false, passed: 2, failed: 1 });
    expect(body.results.find((r: { passed: boolean }) => !r.passed)).toMatchObject({ workflow: 'greet', name: 'crashes the engine', run: { error: { code: 'engine_error' } } });
  });
});

describe('pancha workflows docs', () => {
  it('the committed docs/workflows pages match the manifests (regenerate with `npx pancha workflows docs`)', async () => {
    const res = await pancha(['workflows', 'docs', '--check']);
    expect({ status: res.status, stdout: res.stdout }).toEqual({ status: 0, stdout: expect.stringMatching(/pages? up to date/) });
    const pages = readdirSync(path.join(REPO_ROOT, 'docs/workflows')).filter((f) => f.endsWith('.md'));
    const manifests = readdirSync(path.join(REPO_ROOT, 'workflows')).filter((f) => f.endsWith('.yaml'));
    expect(pages.sort()).toEqual(manifests.map((f) => f.replace(/\.yaml$/, '.md')).sort());
  });

  it('writes a page with inputs, a Mermaid diagram, retries, security and examples; --check sees a stale page', async () => {
    const dir = tmp('docs');
    const out = tmp('docs-out');
    writeFileSync(path.join(dir, 'greet.yaml'), GOOD);
    const stale = await pancha(['workflows', 'docs', '--dir', dir, '--out', out, '--check']);
    expect(stale.status).toBe(1);
    expect(stale.stdout).toContain('greet.md: stale');
    expect((await pancha(['workflows', 'docs', '--dir', dir, '--out', out])).status).toBe(0);
    const page = readFileSync(path.join(out, 'greet.md'), 'utf8');
    for (const part of ['# greet', '## Inputs', '## Outputs', '```mermaid', 'start --> s_make_task', '## Retries and timeouts', '## Security', '### makes the task']) expect(page).toContain(part);
    expect((await pancha(['workflows', 'docs', '--dir', dir, '--out', out, '--check'])).status).toBe(0);
    // A manifest that does not load is not documented: --check fails naming it, though every page it has is current.
    writeFileSync(path.join(dir, 'broken.yaml'), 'name: broken\nversion: 1.0.0\nsteps: [\n');
    const broken = await pancha(['workflows', 'docs', '--dir', dir, '--out', out, '--check']);
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/broken\.yaml:\d+:\d+: error/);
    expect(broken.stdout).toContain('1 of 1 page up to date, 1 file not loaded');
    const missing = await pancha(['workflows', 'docs', '--dir', path.join(dir, 'nope'), '--out', out, '--check']);
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain('unreadable_file');
  });
});

describe('pancha workflows generate', () => {
  it('every template writes a manifest that validates and whose tests pass', async () => {
    const dir = tmp('generate');
    for (const template of ['task', 'approval', 'http', 'event']) {
      const res = await pancha(['workflows', 'generate', '--name', `from-${template}`, '--from', template, '--dir', dir]);
      expect({ template, status: res.status, stdout: res.stdout }).toEqual({ template, status: 0, stdout: expect.stringContaining(`from-${template}.yaml`) });
    }
    expect((await pancha(['workflows', 'validate', dir])).status).toBe(0);
    const tested = await pancha(['workflows', 'test', '--dir', dir, '--json']);
    expect(json(tested)).toMatchObject({ ok: true, failed: 0 });
    expect(json(tested).passed).toBeGreaterThanOrEqual(4);
  });

  it('refuses a bad name, an unknown template and overwriting (exit 2)', async () => {
    const dir = tmp('generate-bad');
    expect((await pancha(['workflows', 'generate', '--name', 'Bad Name', '--dir', dir])).status).toBe(2);
    expect((await pancha(['workflows', 'generate', '--name', 'ok', '--from', 'nothing', '--dir', dir])).stderr).toContain('--from must be one of task, approval, http, event');
    // A file that cannot be copied is named, with why, as a usage error; nothing is written.
    const broken = path.join(dir, 'broken.yaml');
    const list = path.join(dir, 'list.yaml');
    writeFileSync(broken, 'name: x\n  bad: [\n');
    writeFileSync(list, '- a\n- b\n');
    const notYaml = await pancha(['workflows', 'generate', '--name', 'copy', '--from', broken, '--dir', dir]);
    expect([notYaml.status, notYaml.stderr]).toEqual([2, expect.stringContaining(`--from ${broken} is not valid YAML: `)]);
    const notMap = await pancha(['workflows', 'generate', '--name', 'copy', '--from', list, '--dir', dir]);
    expect([notMap.status, notMap.stderr]).toEqual([2, expect.stringContaining(`--from ${list} is not a manifest: its top level must be a mapping`)]);
    expect(existsSync(path.join(dir, 'copy.yaml'))).toBe(false);
    expect((await pancha(['workflows', 'generate', '--name', 'ok', '--dir', dir])).status).toBe(0);
    expect((await pancha(['workflows', 'generate', '--name', 'ok', '--dir', dir])).status).toBe(2);
  });

  it('--from an existing manifest copies it under the new name at 0.1.0', async () => {
    const dir = tmp('generate-copy');
    const res = await pancha(['workflows', 'generate', '--name', 'onboard-copy', '--from', path.join(REPO_ROOT, 'workflows/onboard-learner.yaml'), '--dir', dir]);
    expect(res.status).toBe(0);
    const text = readFileSync(path.join(dir, 'onboard-copy.yaml'), 'utf8');
    expect(text).toMatch(/^name: onboard-copy$/m);
    expect(text).toMatch(/^version: 0\.1\.0$/m);
  });
});

describe('pancha workflows import', () => {
  it('turns a DreamNet JSON manifest into a Pancha manifest and lists what it could not carry over', async () => {
    const dir = tmp('import-dn');
    const res = await pancha(['workflows', 'import', path.join(FIXTURES, 'dreamnet-course-pack.json'), '--out', dir, '--json']);
    const body = json(res);
    expect(body.format).toBe('dreamnet');
    const [wf] = body.workflows;
    expect(wf.name).toBe('course-pack-publisher');
    expect(wf.notes).toEqual(
      expect.arrayContaining([
        expect.stringContaining('security.allowedPaths'),
        expect.stringContaining('errorHandling.alertChannel'),
        expect.stringContaining('step announce: cache'),
        expect.stringContaining('action "printer" is not built in'),
        expect.stringContaining('dependency lodash'),
        expect.stringContaining('marketplace'),
      ]),
    );
    // the unknown action is the one error, so the exit status says the result does not validate yet
    expect(res.status).toBe(1);
    expect(wf.findings.filter((f: { severity: string }) => f.severity === 'error').map((f: { code: string }) => f.code)).toEqual(['unknown_action']);
    const text = readFileSync(path.join(dir, 'course-pack-publisher.yaml'), 'utf8');
    expect(text).toMatch(/^version: 2\.1\.0$/m);
    expect(text).toMatch(/^timeout: 600s$/m);
    expect(text).toMatch(/^ {2}max_attempts: 3$/m);
    expect(text).toMatch(/^ {2}workflow: notify-ops@\^1$/m);
    expect(text).toMatch(/http_hosts:\n\s+- cdn\.example\.com/);
    expect(text).toMatch(/- id: announce\n\s+if: inputs\.notify == true/);
    // with the plugin declared, the imported manifest validates
    const ok = await pancha(['workflows', 'import', path.join(FIXTURES, 'dreamnet-course-pack.json'), '--out', dir, '--force', '--actions', 'printer']);
    expect(ok.status).toBe(0);
  });

  it('turns a TriggerMesh YAML workflow into a manifest with a trigger, filters and steps', async () => {
    const dir = tmp('import-tm');
    const res = await pancha(['workflows', 'import', path.join(FIXTURES, 'triggermesh-healing.yaml'), '--out', dir, '--actions', 'pagerduty_handler']);
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('wrote');
    expect(res.stdout).toMatch(/note: on_success: .*workflow\.completed/);
    expect(res.stdout).toMatch(/note: action page: notify_on_error has no Pancha equivalent/);
    const text = readFileSync(path.join(dir, 'healing-escalation.yaml'), 'utf8');
    expect(text).toContain('event: test_quality.healing_required');
    expect(text).toContain('if: event.data.severity == "CRITICAL"');
    expect(text).toMatch(/dedup:\n\s+window: 300s/);
    expect(text).toContain('url: http://healing.pancha.local/heal');
    expect(text).toContain('component: "{{ inputs.component }}"');
    expect(text).toMatch(/max_attempts: 4\n\s+initial_interval: 1s\n\s+max_interval: 4s\n\s+backoff_coefficient: 2/);
    // and the result is a workflow like any other: it validates with the plugin named
    const copy = tmp('import-tm-validate');
    cpSync(path.join(dir, 'healing-escalation.yaml'), path.join(copy, 'healing-escalation.yaml'));
    expect((await pancha(['workflows', 'validate', copy, '--actions', 'pagerduty_handler'])).status).toBe(0);
  });

  it('a definition without a name says so, rather than that "undefined" was renamed', async () => {
    const dir = tmp('import-nameless');
    writeFileSync(path.join(dir, 'empty.json'), '{}');
    writeFileSync(path.join(dir, 'nameless.yaml'), 'trigger:\n  event_type: x.y\nactions: []\n');
    const dn = json(await pancha(['workflows', 'import', path.join(dir, 'empty.json'), '--out', path.join(dir, 'out'), '--json']));
    expect(dn.workflows[0].notes).toContain('no name given: named "imported-workflow"');
    const tm = json(await pancha(['workflows', 'import', path.join(dir, 'nameless.yaml'), '--out', path.join(dir, 'out'), '--json']));
    expect(tm.workflows[0].notes).toContain('no name or id given: named "imported-workflow-1"');
    for (const body of [dn, tm]) expect(JSON.stringify(body)).not.toContain('undefined');
  });

  it('a file that cannot be read is a usage error', async () => {
    const res = await pancha(['workflows', 'import', '/nonexistent/flow.json']);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('cannot read /nonexistent/flow.json');
  });
});
