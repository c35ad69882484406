/**
 * The remote commands as a user runs them: the built `pancha` binary in a child process, against a stand-in Core
 * (libs/testing) that records what it was asked. Asserts the requests (path, query, body, a valid operator token),
 * what is printed (plain tables when piped, boxed with FORCE_COLOR, `--json`), and the exit status.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { jwtVerify } from 'jose';
import { RequesterId } from '@pancha/contracts';
import { createTestKeys, freePort, type RecordedRequest, StandInServer, type TestKeys } from '@pancha/testing';
import { parseManifest } from '@pancha/workflow-manifest';
import { json, pancha, REPO_ROOT } from './testing/run-cli';

jest.setTimeout(60_000);

const RUN = '3f0c8f7e-9a51-4d4e-8e1a-2b7c1d9e0a11';
const summary = (over: Record<string, unknown> = {}) => ({
  name: 'onboard-learner',
  enabled: true,
  default_version: '1.2.0',
  description: 'Welcome a new learner',
  setting: null,
  versions: [
    { version: '1.1.0', content_hash: 'a', registered_at: '2026-11-01T10:00:00.000Z', present: false, deprecated: true, retired: false, description: null, file: null, live_runs: 2 },
    { version: '1.2.0', content_hash: 'b', registered_at: '2026-11-02T10:00:00.000Z', present: true, deprecated: false, retired: false, description: null, file: 'onboard-learner.yaml', live_runs: 3 },
  ],
  ...over,
});
const runSummary = { run_id: RUN, workflow: 'onboard-learner', version: '1.2.0', status: 'failed', user_id: 'u1', product: null, trace_id: 'a'.repeat(32), parent_run_id: null, created_at: '2026-11-28T10:00:00.000Z', started_at: '2026-11-28T10:00:00.100Z', completed_at: '2026-11-28T10:00:01.600Z', duration_ms: 1500, error: { code: 'provider_down', message: 'email provider refused' } };
// Runs Core answers from its own record (RunSummaryView plus delivery and reason; no steps, children, signals, inputs).
const QUEUED = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const REFUSED = '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e';
const CANCELLED = '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f';
const ownRecord = (run_id: string, delivery: string, over: Record<string, unknown>) => ({
  ...runSummary, run_id, status: 'pending', started_at: null, completed_at: null, duration_ms: null, error: null, delivery, reason: null, ...over,
});
const records: Record<string, Record<string, unknown>> = {
  [QUEUED]: ownRecord(QUEUED, 'queued', {}),
  [REFUSED]: ownRecord(REFUSED, 'refused', { status: 'failed', completed_at: '2026-11-28T10:00:02.000Z', reason: 'no workflow onboard-learner@1.2.0 here', error: { code: 'start_refused', message: 'no workflow onboard-learner@1.2.0 here', retryable: false } }),
  [CANCELLED]: ownRecord(CANCELLED, 'cancelled', { status: 'cancelled', completed_at: '2026-11-28T10:00:03.000Z', reason: 'cancelled by operator before the executor received it' }),
};
const manifest = parseManifest(readFileSync(path.join(REPO_ROOT, 'workflows/onboard-learner.yaml'), 'utf8')).manifest;

function answer(req: RecordedRequest): { status: number; body: unknown } {
  const route = `${req.method} ${req.path}`;
  switch (route) {
    case 'GET /workflows':
      return { status: 200, body: { workflows: [summary(), summary({ name: 'notify-ops', enabled: false, default_version: '1.0.0', description: null, versions: [] })], revision: '7' } };
    case 'GET /workflows/onboard-learner':
      return { status: 200, body: summary({ setting: { enabled: true, updated_by: 'operator', updated_at: '2026-11-03T09:00:00.000Z', reason: 'back on' } }) };
    case 'GET /workflows/onboard-learner/versions/1.2.0':
      return { status: 200, body: { ...manifest, present: true } };
    case 'GET /workflows/onboard-learner/versions/1.1.0':
      // Gone from the directory, its flags unchanged: Core says so with present (a start on it is a 409 version_retired).
      return { status: 200, body: { ...manifest, version: '1.1.0', deprecated: true, retired: false, present: false } };
    case 'GET /workflows/notify-ops':
      return { status: 200, body: summary({ name: 'notify-ops', default_version: '1.0.0', versions: [] }) };
    case 'GET /workflows/nope':
      return { status: 404, body: { code: 'unknown_workflow', message: 'no workflow named nope', trace_id: 'x' } };
    case 'POST /workflows/onboard-learner/disable':
      if (String((req.body as { reason?: string }).reason ?? '').length > 500) {
        return { status: 422, body: { code: 'validation_failed', message: 'invalid request: reason', trace_id: 'x', errors: [{ field: 'reason', messages: ['reason must be shorter than or equal to 500 characters'] }] } };
      }
      return { status: 200, body: summary({ enabled: false }) };
    case 'POST /workflows/onboard-learner/enable':
      return { status: 200, body: summary() };
    case 'POST /workflows/reload':
      return {
        status: 200,
        body: {
          loaded_at: '2026-11-28T10:00:00.000Z',
          registered: [{ workflow: 'onboard-learner', version: '1.3.0', file: 'onboard-learner.yaml' }],
          unchanged: 5,
          refused: [
            { file: 'broken.yaml', findings: [{ layer: 'semantic', severity: 'error', code: 'unknown_action', message: 'action "fax" is not known', file: 'broken.yaml', line: 9, column: 13, path: '/steps/1/action' }] },
            { file: 'fresh.yaml', findings: [{ layer: 'schema', severity: 'error', code: 'required', message: 'steps is required', file: 'fresh.yaml', line: 1, column: 1, path: '' }] },
          ],
          kept: [{ file: 'broken.yaml', workflow: 'broken', version: '1.0.0' }],
          lifecycle: [{ workflow: 'old-flow', version: '2.1.0', file: 'old-flow.yaml', deprecated: false, retired: true, was: { deprecated: false, retired: false } }],
          findings: [],
          plugins: {
            loaded_at: '2026-11-28T10:00:00.000Z',
            trigger: 'request',
            loaded: [{ name: 'sms', version: '1.1.0', file: 'sms/index.js', previous: '1.0.0' }],
            unchanged: 1,
            failed: [{ file: 'slack/index.js', name: 'slack', error: "loading threw: Unexpected token '}'", kept: '2.0.0' }],
            removed: [{ name: 'fax', file: 'fax.js' }],
          },
        },
      };
    case 'GET /workflows/stats':
      // Core counts the runs of any name, known or not: one without runs is an empty list, not a 404.
      if (req.query.has('name') && req.query.get('name') !== 'onboard-learner') return { status: 200, body: { window: req.query.get('window'), since: '2026-11-27T10:00:00.000Z', workflows: [] } };
      return {
        status: 200,
        body: {
          window: req.query.get('window'),
          since: '2026-11-27T10:00:00.000Z',
          workflows: [{ name: 'onboard-learner', version: '1.2.0', runs: { completed: 40, failed: 2 }, total: 42, success_rate: 40 / 42, p50_ms: 850, p95_ms: 2400, slowest_step: { step_id: 'summary', p95_ms: 1900 }, retries: 3, last_failure: { run_id: RUN, at: '2026-11-28T09:00:00.000Z', error: 'provider_down' } }],
        },
      };
    case 'GET /runs':
      // --limit 1 leaves more runs out: Core says so with a cursor (its page is the last).
      return { status: 200, body: { runs: [runSummary], next_cursor: req.query.get('limit') === '1' && !req.query.has('cursor') ? 'cursor-2' : null } };
    case `GET /runs/${QUEUED}`:
    case `GET /runs/${REFUSED}`:
    case `GET /runs/${CANCELLED}`:
      return { status: 200, body: records[req.path.slice('/runs/'.length)] };
    case `GET /runs/${RUN}`:
      return { status: 200, body: { ...runSummary, inputs: {}, output: null, actor: 'operator', root_run_id: RUN, relation: null, fallback_run_id: null, cancel_requested: false, deadline_at: null, pins: {}, warnings: ['onboard-learner@1.2.0 is deprecated'], steps: [{ path: 'create_task', step_id: 'create_task', kind: 'action', status: 'completed', attempts: [{}], input: {}, output: {}, error: null, handled: false, decision: null, child_run_id: null, fallback_run_id: null, wake_at: null, started_at: null, completed_at: null, duration_ms: 120 }], signals: [], children: [] } };
    case `POST /runs/${RUN}/cancel`:
    case `POST /runs/${RUN}/retry`:
      return { status: 202, body: { ...runSummary, status: 'running' } };
    case `POST /runs/${RUN}/signals/mentor_ok`:
      return { status: 202, body: { signal_id: 'sig-1', run: { ...runSummary, status: 'running' } } };
    case `POST /runs/${RUN}/signals/slow`:
      return { status: 504, body: { code: 'executor_timeout', message: 'the workflow executor did not answer in time; the signal may have been made' } };
    case 'GET /plugins':
      return { status: 200, body: { plugins: [{ name: 'sms', version: '1.0.0', source: 'directory', status: 'loaded', description: 'Send an SMS', retryable_codes: ['rate_limited'], secrets: ['SMS_TOKEN'], error: null, file: 'plugins/sms/index.js' }, { name: 'broken', version: '0.0.1', source: 'directory', status: 'failed', description: null, retryable_codes: [], secrets: [], error: 'threw at load: boom', file: 'plugins/broken/index.js' }, { name: 'slack', version: '2.0.0', source: 'directory', status: 'loaded', description: 'Posts to Slack', retryable_codes: [], secrets: [], error: null, file: 'slack/index.js', reload_error: "loading threw: Unexpected token '}'" }] } };
    case 'GET /plugins/sms':
      return { status: 200, body: { name: 'sms', version: '1.0.0', source: 'directory', status: 'loaded', description: 'Send an SMS', retryable_codes: ['rate_limited'], secrets: ['SMS_TOKEN'], error: null, file: 'plugins/sms/index.js', loaded_at: '2026-11-28T09:00:00.000Z', reload_error: null, workers: { alive: 2, warm: 2, busy: 0, started: 2, reused: 40 }, input_schema: { type: 'object', required: ['to'] }, output_schema: { type: 'object' } } };
    case 'GET /events/stats':
      return { status: 200, body: { since: '2026-11-28T00:00:00.000Z', received: 120, matched: 30, runs_started: 12, skipped: { duplicate: 10, condition_false: 8 }, by_type: { 'test_quality.healing_required': { received: 100, runs_started: 10, skipped: { duplicate: 10, condition_false: 8 } }, 'workflow.completed': { received: 20, runs_started: 0, skipped: {} } }, noisiest_keys: [{ key: 'auth-tests', events: 40 }] } };
    case 'GET /events':
      // --limit 1 leaves more events out: Core says so with a cursor (the whole first page, as Core encodes it).
      return {
        status: 200,
        body: {
          events: [{ event_id: 'ev-1', type: 'test_quality.healing_required', received_at: '2026-11-28T10:00:00.000Z', runs_started: 1 }],
          ...(req.query.get('limit') === '1' ? { next_cursor: 'WyIyMDI2LTExLTI4In0' } : {}),
        },
      };
    case 'POST /events': {
      const event = req.body as { type: string; data: { component?: string; metric?: string; value?: unknown } };
      if (event.type === 'kpi.threshold_breach') {
        const errors = [
          ...(event.data.metric === undefined ? [{ field: 'data.metric', messages: ['is required'] }] : []),
          ...(typeof event.data.value !== 'number' ? [{ field: 'data.value', messages: ['must be number'] }] : []),
        ];
        return { status: 422, body: { code: 'event_invalid', message: `invalid event: ${errors.map((e) => e.field).join(', ')}`, errors, trace_id: 'x' } };
      }
      if (!event.data.component) {
        return { status: 422, body: { code: 'event_invalid', message: 'invalid event: data.component', errors: [{ field: 'data.component', messages: ['is required'] }], trace_id: 'x' } };
      }
      return {
        status: 202,
        body: { event_id: 'ev-2', trace_id: 't'.repeat(32), runs: [{ workflow: 'incident-escalation', version: '1.1.0', run_id: RUN, trigger: 'critical' }], skipped: [{ workflow: 'learning-path', trigger: 'warning', reason: 'condition_false', detail: 'severity is CRITICAL' }], deferred: [] },
      };
    }
    case 'GET /plugins/task':
      // A built-in action declares no schemas.
      return { status: 200, body: { name: 'task', version: '1.0.0', source: 'builtin', status: 'loaded', description: 'Create a task', retryable_codes: [], secrets: [], error: null, file: null, input_schema: null, output_schema: null } };
    case 'GET /events/ev-1':
      return { status: 200, body: { event_id: 'ev-1', type: 'test_quality.healing_required', decisions: [{ workflow: 'incident-escalation', outcome: 'started', run_id: RUN }, { workflow: 'learning-path', outcome: 'skipped', reason: 'condition_false' }] } };
    default:
      return { status: 404, body: { code: 'not_found', message: `no route ${route}` } };
  }
}

describe('pancha against Core (a stand-in)', () => {
  let core: StandInServer;
  let keys: TestKeys;
  let env: Record<string, string>;

  beforeAll(async () => {
    keys = createTestKeys('pancha-cli');
    core = await new StandInServer(answer).start();
    env = { PANCHA_URL: core.url, PANCHA_KEYS_DIR: keys.dir };
  });
  afterAll(async () => {
    await core.close();
    keys.remove();
  });
  beforeEach(() => core.requests.splice(0));

  const last = () => core.requests[core.requests.length - 1];

  it('calls Core as the operator with a fresh token for each request', async () => {
    expect((await pancha(['workflows', 'list'], { env })).status).toBe(0);
    expect((await pancha(['workflows', 'list'], { env })).status).toBe(0);
    const tokens = core.requests.map((r) => /^Bearer (.+)$/.exec(String(r.headers.authorization))?.[1]);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).not.toEqual(tokens[1]);
    const key = createPublicKey(keys.publicKeyPem(RequesterId.Operator));
    for (const token of tokens) {
      const { payload } = await jwtVerify(token!, key, { issuer: 'operator', audience: 'core' });
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
    }
  });

  it('uses PANCHA_TOKEN as is when set', async () => {
    await pancha(['workflows', 'list'], { env: { PANCHA_URL: core.url, PANCHA_TOKEN: 'given-token' } });
    expect(last().headers.authorization).toBe('Bearer given-token');
  });

  describe('workflows list', () => {
    it('prints a plain table when piped', async () => {
      const res = await pancha(['workflows', 'list'], { env });
      expect(res.status).toBe(0);
      const lines = res.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+STATE\s+DEFAULT\s+VERSIONS\s+LIVE RUNS\s+DESCRIPTION$/);
      expect(lines[1]).toMatch(/^onboard-learner\s+enabled\s+1\.2\.0\s+1\.1\.0 \(deprecated\), 1\.2\.0\s+5\s+Welcome a new learner$/);
      expect(lines[2]).toMatch(/^notify-ops\s+disabled\s+1\.0\.0\s+-\s+0\s+-$/);
      expect(res.stdout).not.toMatch(/[│┌─]/);
      expect(res.stdout).not.toContain(String.fromCharCode(27));
    });

    it('prints a boxed, coloured table on a terminal (FORCE_COLOR)', async () => {
      const res = await pancha(['workflows', 'list'], { env: { ...env, NO_COLOR: undefined, FORCE_COLOR: '1' } });
      expect(res.status).toBe(0);
      expect(res.stdout).toContain('┌');
      expect(res.stdout).toContain('\u001b[32menabled');
    });

    it('--json prints what Core answered', async () => {
      const res = await pancha(['--json', 'workflows', 'list'], { env });
      expect(json(res).workflows.map((w: { name: string }) => w.name)).toEqual(['onboard-learner', 'notify-ops']);
      // --json is accepted after the command too
      expect(json(await pancha(['workflows', 'list', '--json'], { env })).revision).toBe('7');
    });
  });

  describe('workflows show', () => {
    it('shows versions with their live runs and the setting', async () => {
      const res = await pancha(['workflows', 'show', 'onboard-learner'], { env });
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/setting\s+enabled by operator at 2026-11-03 09:00:00Z \(back on\)/);
      // Gone from the directory, it starts no new run whatever its flags said (Core answers 409 version_retired).
      expect(res.stdout).toMatch(/1\.1\.0\s+no\s+retired \(not in directory\)\s+2\s+2026-11-01 10:00:00Z/);
      expect(res.stdout).toMatch(/1\.2\.0 \(default\)\s+yes\s+active\s+3\s+.*onboard-learner\.yaml/);
    });

    it('name@version shows that version\'s steps', async () => {
      const res = await pancha(['workflows', 'show', 'onboard-learner@1.2.0'], { env });
      expect(res.status).toBe(0);
      expect(last().path).toBe('/workflows/onboard-learner/versions/1.2.0');
      expect(res.stdout).toMatch(/name\s+onboard-learner@1\.0\.0/);
      expect(res.stdout).toMatch(/timeout\s+14d/);
      expect(res.stdout).toMatch(/mentor_ok\s+approval\s+wait for signal mentor_ok \(7d, then continue\)\s+has\(inputs\.mentor\)/);
      expect(res.stdout).toMatch(/^STEP\s+KIND\s+DOES/m);
      expect(res.stdout).toMatch(/create_task\s+action\s+task/);
    });

    it('name@version of a version gone from the directory says it starts no new run, as the workflow\'s list of versions does', async () => {
      const gone = await pancha(['workflows', 'show', 'onboard-learner@1.1.0'], { env });
      expect([gone.status, gone.stderr]).toEqual([0, '']);
      expect(gone.stdout).toMatch(/^lifecycle\s+retired \(not in directory\)$/m);
      expect(core.requests.map((r) => r.path)).toEqual(['/workflows/onboard-learner/versions/1.1.0']);
      const here = await pancha(['workflows', 'show', 'onboard-learner@1.2.0'], { env });
      expect(here.stdout).toMatch(/^lifecycle\s+active$/m);

      // A Core whose version view does not carry `present`: the workflow's page says where the version stands.
      const original = core.handler;
      core.handler = (req) => {
        const answered = answer(req);
        return req.path.includes('/versions/') ? { ...answered, body: { ...(answered.body as object), present: undefined } } : answered;
      };
      try {
        core.requests.splice(0);
        const older = await pancha(['workflows', 'show', 'onboard-learner@1.1.0'], { env });
        expect([older.status, older.stderr]).toEqual([0, '']);
        expect(older.stdout).toMatch(/^lifecycle\s+retired \(not in directory\)$/m);
        expect(core.requests.map((r) => r.path)).toEqual(['/workflows/onboard-learner/versions/1.1.0', '/workflows/onboard-learner']);
      } finally {
        core.handler = original;
      }
    });

    it('an unknown workflow is a failure (exit 1) with Core\'s code and message on stderr', async () => {
      const res = await pancha(['workflows', 'show', 'nope'], { env });
      expect(res.status).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim()).toBe('pancha: Core answered 404 unknown_workflow: no workflow named nope');
    });
  });

  it('disable and enable send the reason and say what happens to runs', async () => {
    const off = await pancha(['workflows', 'disable', 'onboard-learner', '--reason', 'provider outage'], { env });
    expect(off.status).toBe(0);
    expect(last()).toMatchObject({ method: 'POST', path: '/workflows/onboard-learner/disable', body: { reason: 'provider outage' } });
    expect(off.stdout.trim()).toBe('onboard-learner disabled: new runs are refused; 5 runs in flight will finish');
    const on = await pancha(['workflows', 'enable', 'onboard-learner'], { env });
    expect(on.status).toBe(0);
    expect(last()).toMatchObject({ method: 'POST', path: '/workflows/onboard-learner/enable', body: {} });
    expect(on.stdout.trim()).toBe('onboard-learner enabled: new runs start again');
  });

  it('reload lists what registered and what was refused (file:line:col), exit 1 when something was refused', async () => {
    const res = await pancha(['workflows', 'reload'], { env });
    expect(res.status).toBe(1);
    expect(res.stdout).toContain('registered onboard-learner@1.3.0 (onboard-learner.yaml)');
    expect(res.stdout).toContain('refused broken.yaml: broken@1.0.0, registered before, keeps serving');
    // A new file that never loaded has nothing serving in its place: the CLI does not pretend otherwise.
    expect(res.stdout).toContain('refused fresh.yaml: nothing registered from it');
    // A version whose file changed only in its lifecycle flags.
    expect(res.stdout).toContain('retired old-flow@2.1.0 (old-flow.yaml)');
    expect(res.stdout).toContain('broken.yaml:9:13: error unknown_action action "fax" is not known (at /steps/1/action)');
    expect(res.stdout).toContain('1 registered, 5 unchanged, 2 refused');
    // The plugins are reloaded first: what loaded, what failed with the version that keeps serving, what went.
    expect(res.stdout).toContain('plugin loaded sms@1.1.0 (sms/index.js), replacing 1.0.0 for new attempts');
    expect(res.stdout).toContain("plugin failed slack/index.js: loading threw: Unexpected token '}' (slack@2.0.0 keeps serving)");
    expect(res.stdout).toContain('plugin removed fax (fax.js)');
    expect(json(await pancha(['workflows', 'reload', '--json'], { env })).refused).toHaveLength(2);
  });

  it('stats asks for the window and shows rates, percentiles, the slowest step and the last failure', async () => {
    const res = await pancha(['workflows', 'stats', 'onboard-learner', '--window', '7d'], { env });
    expect(res.status).toBe(0);
    expect(last().path).toBe('/workflows/stats');
    expect(Object.fromEntries(last().query)).toEqual({ window: '7d', name: 'onboard-learner' });
    expect(res.stdout).toMatch(/onboard-learner@1\.2\.0\s+42\s+completed 40, failed 2\s+95\.2%\s+850ms\s+2\.40s\s+summary \(1\.90s\)\s+3\s+2026-11-28 09:00:00Z 3f0c8f7e provider_down/);
    const bad = await pancha(['workflows', 'stats', '--window', 'forever'], { env });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--window must be a duration');
  });

  it('stats --window reads a duration as manifests write them (1h30m, 1.5h) and sends its canonical form', async () => {
    for (const window of ['1h30m', '1.5h', '90m']) {
      const res = await pancha(['workflows', 'stats', '--window', window], { env });
      expect({ window, status: res.status }).toEqual({ window, status: 0 });
      expect(last().query.get('window')).toBe('1h30m');
    }
    expect((await pancha(['workflows', 'stats', '--window', '90d'], { env })).status).toBe(0);
    expect(last().query.get('window')).toBe('90d');
  });

  it('a window of nothing, or longer than the 90 days Core counts, is exit 2 before any request', async () => {
    const cases: Array<[string[], string]> = [
      [['workflows', 'stats', '--window', '0h'], 'pancha: --window must be more than 0, got "0h"\n'],
      [['workflows', 'stats', '--window', '0'], 'pancha: --window must be more than 0, got "0"\n'],
      [['workflows', 'stats', '--window', '100000d'], 'pancha: --window must be at most 90d, got "100000d"\n'],
      [['workflows', 'stats', '--window', '90d1m'], 'pancha: --window must be at most 90d, got "90d1m"\n'],
      [['workflows', 'stats', '--window', '999999999999d'], 'pancha: --window must be at most 90d, got "999999999999d"\n'],
      [['workflows', 'stats', '--window', '1h1h'], 'pancha: --window must be a duration like 30m, 24h, 7d or 1h30m, got "1h1h"\n'],
      [['events', 'stats', '--window', '0m'], 'pancha: --window must be more than 0, got "0m"\n'],
      [['events', 'stats', '--window', '999999999d'], 'pancha: --window must not reach back before the year 0001, got "999999999d"\n'],
      [['events', 'list', '--since', '0s'], 'pancha: --since must be more than 0, got "0s"\n'],
      [['runs', 'list', '--since', '0m'], 'pancha: --since must be more than 0, got "0m"\n'],
    ];
    for (const [args, stderr] of cases) {
      const res = await pancha(args, { env });
      expect({ args, status: res.status, stdout: res.stdout, stderr: res.stderr }).toEqual({ args, status: 2, stdout: '', stderr });
    }
    expect(core.requests).toHaveLength(0);
  });

  it('stats of a workflow Core does not have is its 404 (exit 1); of one without runs in the window, says so', async () => {
    const unknown = await pancha(['workflows', 'stats', 'nope'], { env });
    expect([unknown.status, unknown.stdout, unknown.stderr]).toEqual([1, '', 'pancha: Core answered 404 unknown_workflow: no workflow named nope\n']);
    expect(core.requests.map((r) => r.path)).toEqual(['/workflows/stats', '/workflows/nope']);
    const quiet = await pancha(['workflows', 'stats', 'notify-ops'], { env });
    expect([quiet.status, quiet.stderr]).toEqual([0, '']);
    expect(quiet.stdout).toContain('no runs of notify-ops in this window');
    // With runs, the statistics answer for the workflow: nothing more is asked.
    core.requests.splice(0);
    expect((await pancha(['workflows', 'stats', 'onboard-learner'], { env })).status).toBe(0);
    expect(core.requests.map((r) => r.path)).toEqual(['/workflows/stats']);
  });

  describe('errors Core answers', () => {
    const longReason = 'x'.repeat(5000);

    it('name each bad field with its messages, whatever the command', async () => {
      const event = await pancha(['events', 'send', 'kpi.threshold_breach', '--data', '{"value":"x"}'], { env });
      expect([event.status, event.stdout, event.stderr]).toEqual([1, '', 'pancha: Core answered 422 event_invalid: invalid event: data.metric: is required; data.value: must be number\n']);
      const reason = await pancha(['workflows', 'disable', 'onboard-learner', '--reason', longReason], { env });
      expect([reason.status, reason.stdout, reason.stderr]).toEqual([1, '', 'pancha: Core answered 422 validation_failed: invalid request: reason: reason must be shorter than or equal to 500 characters\n']);
    });

    it('--json prints the error Core answered on stdout, as Core sent it, with the same exit status and line on stderr', async () => {
      const cases: Array<[string[], unknown]> = [
        [['workflows', 'show', 'nope'], { code: 'unknown_workflow', message: 'no workflow named nope', trace_id: 'x' }],
        [['workflows', 'stats', 'nope'], { code: 'unknown_workflow', message: 'no workflow named nope', trace_id: 'x' }],
        [['workflows', 'disable', 'onboard-learner', '--reason', longReason], { code: 'validation_failed', message: 'invalid request: reason', trace_id: 'x', errors: [{ field: 'reason', messages: ['reason must be shorter than or equal to 500 characters'] }] }],
        [['events', 'send', 'kpi.threshold_breach', '--data', '{"value":"x"}'], { code: 'event_invalid', message: 'invalid event: data.metric, data.value', trace_id: 'x', errors: [{ field: 'data.metric', messages: ['is required'] }, { field: 'data.value', messages: ['must be number'] }] }],
        [['runs', 'signal', RUN, 'slow'], { code: 'executor_timeout', message: 'the workflow executor did not answer in time; the signal may have been made' }],
      ];
      for (const [args, body] of cases) {
        const res = await pancha(['--json', ...args], { env });
        // Exit 1, as without --json (the tests above).
        expect({ args: args.slice(0, 3), status: res.status }).toEqual({ args: args.slice(0, 3), status: 1 });
        expect(json(res)).toEqual(body);
        expect(res.stderr).toMatch(/^pancha: Core answered \d{3} /);
      }
      // No answer of Core's, nothing on stdout: a usage error, or Core not there.
      const usage = await pancha(['--json', 'workflows', 'stats', '--window', '0h'], { env });
      expect([usage.status, usage.stdout]).toEqual([2, '']);
      const port = await freePort();
      const away = await pancha(['--json', 'workflows', 'list'], { env: { ...env, PANCHA_URL: `http://127.0.0.1:${port}` } });
      expect([away.status, away.stdout]).toEqual([2, '']);
    });
  });

  describe('runs', () => {
    it('list passes the filters (a relative --since becomes a time) and prints a table', async () => {
      const before = Date.now();
      const res = await pancha(['runs', 'list', '--workflow', 'onboard-learner', '--status', 'failed', '--since', '2h', '--limit', '20'], { env });
      expect(res.status).toBe(0);
      const q = Object.fromEntries(last().query);
      expect(q).toMatchObject({ workflow: 'onboard-learner', status: 'failed', limit: '20' });
      const since = Date.parse(q.since);
      expect(since).toBeGreaterThanOrEqual(before - 2 * 3_600_000 - 1000);
      expect(since).toBeLessThanOrEqual(Date.now() - 2 * 3_600_000 + 1000);
      expect(res.stdout).toMatch(new RegExp(`${RUN}\\s+onboard-learner@1\\.2\\.0\\s+failed\\s+2026-11-28 10:00:00Z\\s+1\\.50s\\s+provider_down: email provider refused`));
    });

    it('refuses a bad status or run id before calling Core (exit 2)', async () => {
      const status = await pancha(['runs', 'list', '--status', 'exploded'], { env });
      expect(status.status).toBe(2);
      expect(status.stderr).toContain('--status must be one of pending, running, completed, failed, cancelled, timed_out');
      const id = await pancha(['runs', 'show', 'not-a-uuid'], { env });
      expect(id.status).toBe(2);
      expect(id.stderr).toContain('<run_id> must be a UUID');
      expect(core.requests).toHaveLength(0);
    });

    it('show prints the run and its steps; --json the whole view', async () => {
      const res = await pancha(['runs', 'show', RUN], { env });
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/workflow\s+onboard-learner@1\.2\.0/);
      expect(res.stdout).toMatch(/create_task\s+action\s+completed\s+1\s+120ms/);
      expect(res.stdout).toMatch(/warnings\s+onboard-learner@1\.2\.0 is deprecated/);
      expect(json(await pancha(['runs', 'show', RUN, '--json'], { env })).steps).toHaveLength(1);
    });

    it('show prints a run Core answers from its own record (not received, refused, cancelled before start); --json the body as is', async () => {
      const queued = await pancha(['runs', 'show', QUEUED], { env });
      expect([queued.status, queued.stderr]).toEqual([0, '']);
      expect(queued.stdout).toMatch(/workflow\s+onboard-learner@1\.2\.0/);
      expect(queued.stdout).toMatch(/status\s+pending/);
      expect(queued.stdout).toMatch(/delivery\s+queued/);
      expect(queued.stdout).toMatch(/reason\s+-/);
      expect(queued.stdout).toContain("the executor has not received this run yet: its start waits in Core's outbox");
      expect(queued.stdout).not.toMatch(/^STEP/m);

      const refused = await pancha(['runs', 'show', REFUSED], { env });
      expect([refused.status, refused.stderr]).toEqual([0, '']);
      expect(refused.stdout).toMatch(/status\s+failed/);
      expect(refused.stdout).toMatch(/error\s+start_refused: no workflow onboard-learner@1\.2\.0 here/);
      expect(refused.stdout).toMatch(/delivery\s+refused/);
      expect(refused.stdout).toMatch(/reason\s+no workflow onboard-learner@1\.2\.0 here/);
      expect(refused.stdout).toContain('this run never started: the executor refused its start');

      const cancelled = await pancha(['runs', 'show', CANCELLED], { env });
      expect([cancelled.status, cancelled.stderr]).toEqual([0, '']);
      expect(cancelled.stdout).toMatch(/status\s+cancelled/);
      expect(cancelled.stdout).toMatch(/ended\s+2026-11-28 10:00:03Z/);
      expect(cancelled.stdout).toMatch(/delivery\s+cancelled/);
      expect(cancelled.stdout).toMatch(/reason\s+cancelled by operator before the executor received it/);
      expect(cancelled.stdout).toContain('this run never started: it was cancelled before the executor received it');

      const asJson = await pancha(['runs', 'show', REFUSED, '--json'], { env });
      expect(asJson.status).toBe(0);
      expect(json(asJson)).toEqual(records[REFUSED]);
    });

    it('list says on stderr when more runs match and how to see them, so piped stdout is the table alone; --cursor asks Core for that page', async () => {
      const res = await pancha(['runs', 'list', '--status', 'failed', '--limit', '1'], { env });
      expect(res.status).toBe(0);
      expect(res.stdout.trimEnd().split('\n')).toHaveLength(2);
      expect(res.stdout).not.toContain('more runs match');
      expect(res.stderr).toBe('pancha: more runs match: see the next page with --cursor cursor-2\n');
      const next = await pancha(['runs', 'list', '--status', 'failed', '--limit', '1', '--cursor', 'cursor-2'], { env });
      expect([next.status, next.stderr]).toEqual([0, '']);
      expect(Object.fromEntries(last().query)).toEqual({ status: 'failed', limit: '1', cursor: 'cursor-2' });
      expect(next.stdout).toContain(RUN);
      const all = await pancha(['runs', 'list'], { env });
      expect([all.status, all.stderr]).toEqual([0, '']);
      core.requests.splice(0);
      const empty = await pancha(['runs', 'list', '--cursor', ' '], { env });
      expect([empty.status, empty.stderr]).toEqual([2, 'pancha: --cursor must not be empty\n']);
      expect(core.requests).toHaveLength(0);
    });

    it('cancel, retry and signal post to the run', async () => {
      expect((await pancha(['runs', 'cancel', RUN], { env })).stdout).toContain(`cancel requested for ${RUN}`);
      expect(last()).toMatchObject({ method: 'POST', path: `/runs/${RUN}/cancel` });
      expect((await pancha(['runs', 'retry', RUN], { env })).stdout).toContain(`retrying ${RUN}`);
      expect(last()).toMatchObject({ method: 'POST', path: `/runs/${RUN}/retry` });
      const sig = await pancha(['runs', 'signal', RUN, 'mentor_ok', '--payload', '{"by":"mentor"}'], { env });
      expect(sig.status).toBe(0);
      expect(last()).toMatchObject({ method: 'POST', path: `/runs/${RUN}/signals/mentor_ok`, body: { payload: { by: 'mentor' } } });
      const bad = await pancha(['runs', 'signal', RUN, 'mentor_ok', '--payload', '{oops'], { env });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('--payload must be JSON');
    });

    it('a signal carries an Idempotency-Key: --key, or a new one that a 504 names so a repeat sends it once', async () => {
      await pancha(['runs', 'signal', RUN, 'mentor_ok', '--key', 'approve-7'], { env });
      expect(last().headers['idempotency-key']).toBe('approve-7');
      const timedOut = await pancha(['runs', 'signal', RUN, 'slow', '--payload', '{"by":"mentor"}'], { env });
      const key = last().headers['idempotency-key'] as string;
      expect(key).toMatch(/^[0-9a-f-]{36}$/);
      expect(timedOut.status).not.toBe(0);
      expect(timedOut.stderr).toContain(`to repeat it safely: pancha runs signal ${RUN} slow --key ${key} --payload '{"by":"mentor"}'`);
      // A payload with a quote in it: the command printed gives a POSIX shell the same arguments back.
      const payload = `{"note":"it's 'done'"}`;
      const quoted = await pancha(['runs', 'signal', RUN, 'slow', '--payload', payload], { env });
      const quotedKey = last().headers['idempotency-key'] as string;
      const repeat = /to repeat it safely: pancha (.*)$/m.exec(quoted.stderr)?.[1];
      expect(repeat).toBe(`runs signal ${RUN} slow --key ${quotedKey} --payload '{"note":"it'\\''s '\\''done'\\''"}'`);
      const words = execFileSync('sh', ['-c', `printf '%s\\0' ${repeat}`]).toString().split('\0').slice(0, -1);
      expect(words).toEqual(['runs', 'signal', RUN, 'slow', '--key', quotedKey, '--payload', payload]);
      const badKey = await pancha(['runs', 'signal', RUN, 'mentor_ok', '--key', 'has space'], { env });
      expect([badKey.status, badKey.stderr]).toEqual([2, 'pancha: --key must be 1 to 255 visible ASCII characters\n']);
    });
  });

  describe('plugins', () => {
    it('list shows each plugin\'s source and status, the load error of a failed one', async () => {
      const res = await pancha(['plugins', 'list'], { env });
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/sms\s+1\.0\.0\s+directory\s+loaded\s+Send an SMS/);
      expect(res.stdout).toMatch(/broken\s+0\.0\.1\s+directory\s+failed\s+threw at load: boom/);
      // Its files changed and did not load: still loaded, the version listed keeps serving, and why.
      expect(res.stdout).toMatch(/slack\s+2\.0\.0\s+directory\s+loaded\s+reload failed, 2\.0\.0 keeps serving: loading threw: Unexpected token/);
    });

    it('show prints the schemas', async () => {
      const res = await pancha(['plugins', 'show', 'sms'], { env });
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/retryable codes\s+rate_limited/);
      expect(res.stdout).toMatch(/workers\s+2 alive \(2 warm, 0 busy\); 2 started, 40 attempts reused one/);
      expect(res.stdout).toContain('"required": [\n    "to"\n  ]');
      expect(json(await pancha(['plugins', 'show', 'sms', '--json'], { env })).input_schema).toEqual({ type: 'object', required: ['to'] });
    });

    it('show says a plugin declares no schema, rather than printing null', async () => {
      const res = await pancha(['plugins', 'show', 'task'], { env });
      expect([res.status, res.stderr]).toEqual([0, '']);
      expect(res.stdout).toMatch(/^input schema {2}none declared$/m);
      expect(res.stdout).toMatch(/^output schema {2}none declared$/m);
      expect(res.stdout).not.toContain('null');
    });
  });

  describe('events', () => {
    it('stats renders counts, skips by reason and per-type rows', async () => {
      const res = await pancha(['events', 'stats'], { env });
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/received\s+120/);
      expect(res.stdout).toMatch(/duplicate\s+10/);
      expect(res.stdout).toMatch(/test_quality\.healing_required\s+100\s+10/);
      expect(res.stdout).toMatch(/auth-tests\s+40/);
    });

    it('stats shows no skips as "-", in a per-type row and at the top, never as {}', async () => {
      const res = await pancha(['events', 'stats'], { env });
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/^TYPE\s+RECEIVED\s+RUNS_STARTED\s+SKIPPED$/m);
      expect(res.stdout).toMatch(/^workflow\.completed\s+20\s+0\s+-$/m);
      expect(res.stdout).not.toContain('{');
      expect(res.stdout).toMatch(/^test_quality\.healing_required\s+100\s+10\s+duplicate: 10, condition_false: 8$/m);

      const original = core.handler;
      core.handler = (req) =>
        req.path === '/events/stats'
          ? { status: 200, body: { since: '2026-11-28T00:00:00.000Z', received: 0, matched: 0, runs_started: 0, skipped: {}, deferred: 0, by_type: {}, by_trigger: {}, noisiest_keys: [] } }
          : original(req);
      try {
        const quiet = await pancha(['events', 'stats'], { env });
        expect(quiet.status).toBe(0);
        expect(quiet.stdout).toMatch(/^skipped\s+-$/m);
        expect(quiet.stdout).toMatch(/^by_type\s+-$/m);
        expect(quiet.stdout).not.toMatch(/^KEY\s+VALUE$/m);
        expect(quiet.stdout).not.toContain('{');
      } finally {
        core.handler = original;
      }
    });

    it("stats --window asks for the window's start (since), and a window that is no duration is exit 2 before any request", async () => {
      const before = Date.now();
      expect((await pancha(['events', 'stats', '--window', '1h'], { env })).status).toBe(0);
      const since = Date.parse(String(last().query.get('since')));
      expect(since).toBeGreaterThanOrEqual(before - 3_600_000);
      expect(since).toBeLessThanOrEqual(Date.now() - 3_600_000);
      expect(last().query.has('window')).toBe(false);
      core.requests.splice(0);
      const bogus = await pancha(['events', 'stats', '--window', 'bogus'], { env });
      expect([bogus.status, bogus.stderr]).toEqual([2, 'pancha: --window must be a duration like 30m, 24h, 7d or 1h30m, got "bogus"\n']);
      expect(core.requests).toHaveLength(0);
      // As manifests write durations: 1h30m is 90 minutes.
      const compound = Date.now();
      expect((await pancha(['events', 'stats', '--window', '1h30m'], { env })).status).toBe(0);
      const start = Date.parse(String(last().query.get('since')));
      expect(start).toBeGreaterThanOrEqual(compound - 5_400_000);
      expect(start).toBeLessThanOrEqual(Date.now() - 5_400_000);
    });

    it('list passes --type and --since; show prints the decision trail', async () => {
      const list = await pancha(['events', 'list', '--type', 'test_quality.healing_required', '--since', '2026-11-28T00:00:00Z'], { env });
      expect(list.status).toBe(0);
      expect(Object.fromEntries(last().query)).toEqual({ type: 'test_quality.healing_required', since: '2026-11-28T00:00:00.000Z' });
      expect(list.stdout).toMatch(/ev-1\s+test_quality\.healing_required/);
      const show = await pancha(['events', 'show', 'ev-1'], { env });
      expect(show.stdout).toMatch(/learning-path\s+skipped\s+-\s+condition_false/);
    });

    it('list says on stderr when more events match and how to see them; --cursor asks Core for that page', async () => {
      const first = await pancha(['events', 'list', '--type', 'test_quality.healing_required', '--limit', '1'], { env });
      expect(first.status).toBe(0);
      expect(first.stdout.trimEnd().split('\n')).toHaveLength(2);
      expect(first.stderr).toBe('pancha: more events match: see the next page with --cursor WyIyMDI2LTExLTI4In0\n');
      const next = await pancha(['events', 'list', '--type', 'test_quality.healing_required', '--cursor', 'WyIyMDI2LTExLTI4In0'], { env });
      expect([next.status, next.stderr]).toEqual([0, '']);
      expect(Object.fromEntries(last().query)).toEqual({ type: 'test_quality.healing_required', cursor: 'WyIyMDI2LTExLTI4In0' });
      expect(next.stdout).toMatch(/ev-1\s+test_quality\.healing_required/);
      expect(json(await pancha(['events', 'list', '--limit', '1', '--json'], { env })).next_cursor).toBe('WyIyMDI2LTExLTI4In0');
      core.requests.splice(0);
      const empty = await pancha(['events', 'list', '--cursor', ' '], { env });
      expect([empty.status, empty.stderr]).toEqual([2, 'pancha: --cursor must not be empty\n']);
      expect(core.requests).toHaveLength(0);
    });

    it('send publishes one event with its id and prints what it started and skipped; a bad one is refused with exit 1', async () => {
      const data = { component: 'auth-tests', severity: 'CRITICAL' };
      const sent = await pancha(['events', 'send', 'test_quality.healing_required', '--data', JSON.stringify(data), '--id', 'by-hand-1'], { env });
      expect(sent.status).toBe(0);
      expect(last().body).toEqual({ type: 'test_quality.healing_required', data, id: 'by-hand-1' });
      expect(sent.stdout).toMatch(/incident-escalation\s+1\.1\.0/);
      expect(sent.stdout).toMatch(/learning-path\s+warning\s+condition_false/);
      const bad = await pancha(['events', 'send', 'test_quality.healing_required', '--data', '{}'], { env });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('data.component');
      const notJson = await pancha(['events', 'send', 'test_quality.healing_required', '--data', '{nope'], { env });
      expect(notJson.status).toBe(2);
      expect(notJson.stderr).toContain('--data must be JSON');
    });

    it('input it cannot send is exit 2 naming the option, and nothing reaches Core', async () => {
      const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
      const cases: Array<[string[], string]> = [
        [['events', 'send', 'x.y', '--id', ''], '--id must not be empty'],
        [['events', 'send', 'x.y', '--data', deep], 'the request body cannot be sent as JSON'],
        [['events', 'show', ''], 'expected an event id'],
        [['events', 'list', '--since', '999999999d'], '--since must be a duration (30m, 24h, 7d, 1h30m) or an ISO 8601 time in years 0001-9999'],
      ];
      for (const [args, message] of cases) {
        const res = await pancha(args, { env });
        expect({ args: args.slice(0, 3), status: res.status }).toEqual({ args: args.slice(0, 3), status: 2 });
        expect(res.stderr).toContain(message);
      }
      expect(core.requests).toHaveLength(0);
    });
  });

  describe('when Core is not there', () => {
    it('says so in one line and exits 2', async () => {
      const port = await freePort();
      const res = await pancha(['workflows', 'list'], { env: { ...env, PANCHA_URL: `http://127.0.0.1:${port}` } });
      expect(res.status).toBe(2);
      expect(res.stdout).toBe('');
      expect(res.stderr).toBe(`pancha: cannot reach Core at http://127.0.0.1:${port}: connection refused\n`);
    });

    it('a server that answers a web page rather than JSON is not drawn as data: exit 2 asking whether it is Core', async () => {
      const page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>PRANA</title>'));
      await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
        const res = await pancha(['events', 'stats'], { env: { ...env, PANCHA_URL: url } });
        expect([res.status, res.stdout]).toEqual([2, '']);
        expect(res.stderr).toBe(`pancha: GET ${url}/events/stats answered 200 with text/html, not JSON: is it Core's address (PANCHA_URL, --url)?\n`);
      } finally {
        await new Promise((resolve) => page.close(resolve));
      }
    });

    it('an error page that is not JSON (a proxy\'s 404 or 502) is one line naming the status, exit 2, like a 200 page', async () => {
      const html = '<!doctype html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<h1>Bad Gateway</h1>\n</body>\n</html>\n';
      const proxy = createServer((req, res) => res.writeHead(req.url?.startsWith('/runs') ? 502 : 404, { 'content-type': 'text/html' }).end(html));
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
        for (const [args, route, status] of [[['workflows', 'list'], '/workflows', 404], [['runs', 'list', '--limit', '5'], '/runs', 502]] as const) {
          const res = await pancha([...args], { env: { ...env, PANCHA_URL: url } });
          expect([res.status, res.stdout]).toEqual([2, '']);
          expect(res.stderr).toBe(`pancha: GET ${url}${route} answered ${status} with text/html, not JSON: is it Core's address (PANCHA_URL, --url)?\n`);
        }
      } finally {
        await new Promise((resolve) => proxy.close(resolve));
      }
    });

    it('without keys or a token, says how to get them (exit 2)', async () => {
      const res = await pancha(['runs', 'list'], { env: { PANCHA_URL: core.url, PANCHA_KEYS_DIR: '/nonexistent/keys' } });
      expect(res.status).toBe(2);
      expect(res.stderr).toContain('no operator key at /nonexistent/keys/operator.key.pem');
    });
  });

  describe('usage', () => {
    it('--help works on every command and exits 0', async () => {
      for (const args of [[], ['workflows'], ['workflows', 'validate'], ['runs', 'list'], ['plugins', 'show'], ['events', 'list']]) {
        const res = await pancha([...args, '--help']);
        expect({ args, status: res.status }).toEqual({ args, status: 0 });
        expect(res.stdout).toContain('Usage: pancha');
      }
    });

    it('an unknown command or a missing argument exits 2 with a hint', async () => {
      const unknown = await pancha(['workflows', 'frobnicate'], { env });
      expect(unknown.status).toBe(2);
      expect(unknown.stderr).toContain("unknown command 'frobnicate'");
      const missing = await pancha(['runs', 'show'], { env });
      expect(missing.status).toBe(2);
      expect(missing.stderr).toContain("missing required argument 'run_id'");
      expect(core.requests).toHaveLength(0);
    });
  });
});
