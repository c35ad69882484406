/**
 * The shipped example workflows (workflows/) through the whole stack, as users run them: started on Core, run by
 * the executor against real adapters (capture outbox, task rows, a local HTTP provider), recorded in Bucket in
 * order, scored once in Karma, and one trace from Core's request to the last step.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RequesterId, type RunView } from '@pancha/contracts';
import { loadKeyStore, TokenIssuer } from '@pancha/governance';
import { type RunningStack, startStack } from '@pancha/stack';
import { freePort, httpJson, IdempotentSink, poll, queryRows, startOtlpReceiver, testServerUrl } from '@pancha/testing';

jest.setTimeout(300_000);

type Receiver = Awaited<ReturnType<typeof startOtlpReceiver>>;
const ROOT = path.resolve(__dirname, '../../..');

describe('the example workflows through the stack', () => {
  let stack: RunningStack;
  let receiver: Receiver;
  let operator: TokenIssuer;
  const sink = new IdempotentSink((req) =>
    req.path === '/heal' ? { status: 202, body: { healed: true } } : { status: 201, body: { published: req.path } },
  );

  beforeAll(async () => {
    await sink.start();
    receiver = await startOtlpReceiver();
    const services = ['karma', 'bucket', 'core', 'workflow-executor'] as const;
    const ports = Object.fromEntries(await Promise.all(services.map(async (s) => [s, await freePort()] as const)));
    stack = await startStack({
      rootDir: ROOT,
      dataDir: mkdtempSync(path.join(tmpdir(), 'wf-e2e-data-')),
      databaseUrl: testServerUrl(),
      databasePrefix: `wfe2e_${randomBytes(3).toString('hex')}_`,
      dropDatabasesOnStop: true,
      ports,
      logDir: mkdtempSync(path.join(tmpdir(), 'wf-e2e-logs-')),
      env: {
        LOG_LEVEL: 'info',
        NATS_URL: '',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        WORKFLOW_CATALOG_REFRESH_MS: '200',
      },
      // The shipped manifests, unchanged; their hosts are reached on loopback in this test.
      serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: path.join(ROOT, 'workflows'), WORKFLOW_HTTP_ALLOWED_HOSTS: '127.0.0.1' } },
    });
    operator = new TokenIssuer(loadKeyStore(RequesterId.Operator, { PANCHA_KEYS_DIR: stack.keysDir }));
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    await sink.close();
  });

  const core = async (method: string, url: string, body?: unknown) => httpJson(method, `${stack.urls.core}${url}`, body, await operator.tokenFor('core'));

  async function ended(runId: string): Promise<RunView> {
    return poll(`run ${runId} to end`, async () => {
      const res = await core('GET', `/runs/${runId}`);
      return res.status === 200 && ['completed', 'failed', 'cancelled', 'timed_out'].includes(res.body.status) ? (res.body as RunView) : undefined;
    }, 120_000);
  }

  async function bucketEvents(runId: string): Promise<string[]> {
    const rows = await queryRows<{ event_type: string; step: string | null }>(
      stack.databaseUrls.bucket,
      `SELECT event_type, event_data->'step'->>'id' AS step FROM bucket_entries WHERE event_data->>'run_id' = $1 ORDER BY seq`,
      [runId],
    );
    return rows.map((r) => (r.step ? `${r.event_type}:${r.step}` : r.event_type));
  }

  it('GET /workflows lists the shipped workflows with their versions; the registry recorded each in Bucket', async () => {
    const res = await core('GET', '/workflows');
    expect(res.status).toBe(200);
    const names = res.body.workflows.map((w: { name: string }) => w.name);
    expect(names).toEqual(expect.arrayContaining(['incident-escalation', 'onboard-learner', 'publish-one', 'publish-pack']));
    await poll('workflow.registered entries', async () => {
      const [row] = await queryRows<{ n: number }>(stack.databaseUrls.bucket, `SELECT count(*)::int AS n FROM bucket_entries WHERE event_type = 'workflow.registered'`);
      return row.n >= names.length ? row.n : undefined;
    });
  });

  it('a start with bad inputs is a 422 naming each field; an unknown workflow a 404; nothing is started', async () => {
    const bad = await core('POST', '/workflows/onboard-learner/runs', { user_id: 'u1', inputs: { user_id: 'u1', email: 'not-an-email', extra: 1 } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['inputs.email']));
    const unknown = await core('POST', '/workflows/no-such-flow/runs', { user_id: 'u1', inputs: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('unknown_workflow');
  });

  it('onboarding: task, then email and WhatsApp in parallel, the AI summary falling back, then the mentor approval', async () => {
    const start = await core('POST', '/workflows/onboard-learner/runs', {
      user_id: 'learner-1',
      inputs: { user_id: 'learner-1', email: 'learner-1@example.com', phone: '+15551234567', mentor: 'guru-7' },
    });
    expect(start.status).toBe(202);
    expect(start.body).toMatchObject({ workflow: 'onboard-learner', version: '1.0.0', status: 'pending' });
    const runId = start.body.run_id as string;

    const waiting = await poll('the approval to wait', async () => {
      const res = await core('GET', `/runs/${runId}`);
      return res.body.steps?.find((s: { step_id: string; status: string }) => s.step_id === 'mentor_ok' && s.status === 'running') ? res.body : undefined;
    }, 120_000);
    const statuses = Object.fromEntries(waiting.steps.map((s: { step_id: string; status: string }) => [s.step_id, s.status]));
    expect(statuses).toMatchObject({ create_task: 'completed', notify: 'completed', mail: 'completed', text: 'completed', summary: 'failed' });
    const summary = waiting.steps.find((s: { step_id: string }) => s.step_id === 'summary');
    expect(summary).toMatchObject({ handled: true, error: { code: 'provider_not_configured' } });
    expect(summary.fallback_run_id).toBeTruthy();

    const signal = await core('POST', `/runs/${runId}/signals/mentor_ok`, { payload: { by: 'guru-7' } });
    expect(signal.status).toBe(202);
    const run = await ended(runId);
    expect(run.status).toBe('completed');
    expect(run.output).toMatchObject({ summary: expect.stringContaining('summary pending as TASK-') });

    // Provider-side effects, each once: the captured email and WhatsApp, the task rows (welcome + the fallback's).
    const captured = await queryRows<{ channel: string; recipient: string; idempotency_key: string }>(
      stack.databaseUrls['workflow-executor'],
      `SELECT channel, recipient, idempotency_key FROM captured_messages WHERE trace_id = $1 ORDER BY channel`,
      [run.trace_id],
    );
    expect(captured).toEqual([
      { channel: 'email', recipient: 'learner-1@example.com', idempotency_key: `${runId}:mail` },
      { channel: 'whatsapp', recipient: '+15551234567', idempotency_key: `${runId}:text` },
    ]);
    const tasks = await queryRows<{ title: string }>(
      stack.databaseUrls['workflow-executor'],
      `SELECT title FROM tasks WHERE trace_id = $1 ORDER BY created_at`,
      [run.trace_id],
    );
    expect(tasks.map((t) => t.title)).toEqual(['Welcome learner-1', 'Write the onboarding summary of learner-1']);

    const events = await poll('the run completed in Bucket', async () => {
      const list = await bucketEvents(runId);
      return list.includes('workflow.completed') ? list : undefined;
    });
    expect(events[0]).toBe('workflow.started');
    expect(events[events.length - 1]).toBe('workflow.completed');
    expect(events.indexOf('workflow.step_completed:create_task')).toBeLessThan(events.indexOf('workflow.step_completed:mail'));
    expect(events).toContain('workflow.step_failed:summary');
    expect(events.indexOf('workflow.step_failed:summary')).toBeLessThan(events.indexOf('workflow.step_completed:mentor_ok'));

    await poll('one workflow_success in Karma', async () => {
      const rows = await queryRows<{ action: string }>(stack.databaseUrls.karma, `SELECT action FROM karma_ledger WHERE user_id = 'learner-1'`);
      return rows.length === 1 ? rows : undefined;
    });
  });

  it('incident escalation: the healing handler called once with the idempotency key, a settle timer, then the verdict task; one trace', async () => {
    const start = await core('POST', '/workflows/incident-escalation/runs', {
      user_id: 'sre-1',
      inputs: { component: 'auth-tests', severity: 'CRITICAL', handler_url: `${sink.url}/heal`, settle: '1s' },
    });
    expect(start.status).toBe(202);
    const run = await ended(start.body.run_id);
    expect(run.status).toBe('completed');
    expect(run.steps.map((s) => [s.step_id, s.status])).toEqual([
      ['heal', 'completed'],
      ['settle', 'completed'],
      ['verdict', 'completed'],
      ['verify', 'completed'],
    ]);
    expect(sink.requestsFor(`${run.run_id}:heal`)).toBe(1);
    expect(sink.effects.get(`${run.run_id}:heal`)).toBe(1);

    // One trace: Core's request, the executor's run and step spans, Bucket and Karma, every parent present.
    const spans = await poll('a complete trace of the run', async () => {
      const list = receiver.spans().filter((s) => s.traceId === start.body.trace_id);
      const services = new Set(list.map((s) => s.serviceName));
      const ids = new Set(list.map((s) => s.spanId));
      const complete =
        ['core', 'workflow-executor', 'bucket', 'karma'].every((s) => services.has(s)) &&
        list.some((s) => s.name.startsWith('workflow.run incident-escalation')) &&
        ['heal', 'verify'].every((step) => list.some((s) => s.name === `workflow.step ${step}`)) &&
        list.every((s) => !s.parentSpanId || ids.has(s.parentSpanId));
      return complete ? list : undefined;
    }, 60_000);
    const runSpan = spans.find((s) => s.name.startsWith('workflow.run'))!;
    for (const step of ['heal', 'verify']) expect(spans.find((s) => s.name === `workflow.step ${step}`)?.parentSpanId).toBe(runSpan.spanId);
    expect(sink.requests.find((r) => r.key === `${run.run_id}:heal`)?.traceparent).toContain(start.body.trace_id);
  });

  it('publish pack: a foreach over platforms, two at a time, each a pinned publish-one sub-workflow', async () => {
    const start = await core('POST', '/workflows/publish-pack/runs', {
      user_id: 'editor-1',
      inputs: { title: 'Launch', platforms: ['blog', 'newsletter', 'social'], hook_base_url: `${sink.url}/hooks` },
    });
    expect(start.status).toBe(202);
    const run = await ended(start.body.run_id);
    expect(run.status).toBe('completed');
    expect(run.pins).toEqual({ 'publish-one@^1': '1.0.0' });
    expect(run.children.map((c) => [c.workflow, c.version, c.status])).toEqual([
      ['publish-one', '1.0.0', 'completed'],
      ['publish-one', '1.0.0', 'completed'],
      ['publish-one', '1.0.0', 'completed'],
    ]);
    expect(run.output).toEqual({
      published: ['blog', 'newsletter', 'social'].map((platform) => expect.objectContaining({ platform, status: 201 })),
    });
    expect(sink.requests.filter((r) => r.path.startsWith('/hooks/')).map((r) => r.path).sort()).toEqual(['/hooks/blog', '/hooks/newsletter', '/hooks/social']);
    const tasks = await queryRows<{ n: number }>(stack.databaseUrls['workflow-executor'], `SELECT count(*)::int AS n FROM tasks WHERE trace_id = $1`, [run.trace_id]);
    expect(tasks[0].n).toBe(3);
  });

  it('a rule in words starts a workflow: /handle_task decides it and answers with the run', async () => {
    const res = await httpJson('POST', `${stack.urls.core}/handle_task`, { input: 'onboard learner-9 at learner-9@example.com', user_id: 'learner-9' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ decision: 'workflow', status: 'run_started', workflow: 'onboard-learner' });
    const run = await ended(res.body.run_id);
    expect(run.status).toBe('completed');
    expect(run.inputs).toMatchObject({ user_id: 'learner-9', email: 'learner-9@example.com' });
  });

  it('tasks sent together to /handle_tasks are each decided as one would be: the workflow task starts its run, which completes', async () => {
    const res = await core('POST', '/handle_tasks', {
      tasks: [
        { input: 'good morning', user_id: 'learner-10' },
        { input: 'onboard learner-11 at learner-11@example.com', user_id: 'learner-11' },
      ],
    });
    expect(res.status).toBe(202);
    const [greeting, onboarding] = res.body.tasks as { trace_id: string; decision: string; status: string; run_id?: string; workflow?: string }[];
    expect(greeting).toMatchObject({ decision: 'respond', status: 'decided' });
    expect(onboarding).toMatchObject({ decision: 'workflow', status: 'run_started', workflow: 'onboard-learner' });
    expect(onboarding.trace_id).not.toBe(greeting.trace_id);
    const run = await ended(onboarding.run_id ?? '');
    expect(run.status).toBe('completed');
    expect(run).toMatchObject({ trace_id: onboarding.trace_id, inputs: { user_id: 'learner-11', email: 'learner-11@example.com' } });
    // The task's trace, not the request's: the run's message carries it to the executor, so the run's spans hang
    // under Core's root span for the task (one root, every parent present; a message with the request's trace would
    // leave the run span a parent this trace does not hold).
    const spans = await poll('the onboarding task trace', async () => {
      const list = receiver.spans().filter((s) => s.traceId === onboarding.trace_id);
      const ids = new Set(list.map((s) => s.spanId));
      const complete = list.some((s) => s.name.startsWith('workflow.run onboard-learner')) && list.every((s) => !s.parentSpanId || ids.has(s.parentSpanId));
      return complete ? list : undefined;
    }, 60_000);
    expect(spans.filter((s) => !s.parentSpanId).map((s) => [s.serviceName, s.name])).toEqual([['core', 'core handle_task']]);
    expect(receiver.spans().some((s) => s.traceId === greeting.trace_id && s.name === 'core handle_task')).toBe(true);
  });
});
