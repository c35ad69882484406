/**
 * The TriggerMesh scenario through the whole stack (dist/): events published to Core's router start the shipped
 * workflows (incident-escalation@1.1.0, learning-path@1.1.0); a repeat within the dedup window starts nothing and
 * says why; Bucket records every event's decisions; one trace runs from the publisher's span to the last step.
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

describe('the TriggerMesh scenario through the event router', () => {
  let stack: RunningStack;
  let receiver: Receiver;
  let operator: TokenIssuer;
  const sink = new IdempotentSink(() => ({ status: 202, body: { healed: true } }));

  beforeAll(async () => {
    await sink.start();
    receiver = await startOtlpReceiver();
    const services = ['karma', 'bucket', 'core', 'workflow-executor'] as const;
    const ports = Object.fromEntries(await Promise.all(services.map(async (s) => [s, await freePort()] as const)));
    stack = await startStack({
      rootDir: ROOT,
      dataDir: mkdtempSync(path.join(tmpdir(), 'events-e2e-data-')),
      databaseUrl: testServerUrl(),
      databasePrefix: `evte2e_${randomBytes(3).toString('hex')}_`,
      dropDatabasesOnStop: true,
      ports,
      logDir: mkdtempSync(path.join(tmpdir(), 'events-e2e-logs-')),
      env: {
        LOG_LEVEL: 'info',
        NATS_URL: '',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        WORKFLOW_CATALOG_REFRESH_MS: '200',
      },
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
  const ended = (runId: string): Promise<RunView> =>
    poll(`run ${runId} to end`, async () => {
      const res = await core('GET', `/runs/${runId}`);
      return res.status === 200 && ['completed', 'failed', 'cancelled', 'timed_out'].includes(res.body.status) ? (res.body as RunView) : undefined;
    }, 120_000);

  it('CRITICAL escalates, WARNING teaches, a repeat within the dedup window starts nothing and says duplicate; one trace', async () => {
    // Core routes once its catalog mirror has the 1.1.0 triggers.
    await poll('Core knows incident-escalation@1.1.0', async () => {
      const res = await core('GET', '/workflows/incident-escalation');
      return JSON.stringify(res.body).includes('1.1.0') ? true : undefined;
    }, 60_000);

    const traceId = randomBytes(16).toString('hex');
    const publisherSpan = randomBytes(8).toString('hex');
    const critical = await core('POST', '/events', {
      id: `tm-critical-${traceId.slice(0, 8)}`,
      type: 'test_quality.healing_required',
      source: 'test-quality-monitor',
      data: { component: 'auth-tests', severity: 'CRITICAL', handler_url: `${sink.url}/heal`, settle: '1s', user_id: 'sre-1' },
      traceparent: `00-${traceId}-${publisherSpan}-01`,
    });
    expect(critical.status).toBe(202);
    expect(critical.body.trace_id).toBe(traceId);
    expect(critical.body.runs).toEqual([expect.objectContaining({ workflow: 'incident-escalation', version: '1.1.0', trigger: 'critical-test-quality' })]);
    expect(critical.body.skipped).toEqual([expect.objectContaining({ workflow: 'learning-path', reason: 'condition_false' })]);

    const warning = await core('POST', '/events', { type: 'test_quality.healing_required', data: { component: 'billing-tests', severity: 'WARNING', detail: 'flaky' } });
    expect(warning.status).toBe(202);
    expect(warning.body.runs).toEqual([expect.objectContaining({ workflow: 'learning-path', version: '1.1.0' })]);

    const repeat = await core('POST', '/events', { type: 'test_quality.healing_required', data: { component: 'auth-tests', severity: 'CRITICAL', handler_url: `${sink.url}/heal` } });
    expect(repeat.status).toBe(202);
    expect(repeat.body.runs).toEqual([]);
    expect(repeat.body.skipped).toEqual(
      expect.arrayContaining([expect.objectContaining({ workflow: 'incident-escalation', trigger: 'critical-test-quality', reason: 'duplicate' })]),
    );
    const trail = await core('GET', `/events/${repeat.body.event_id}`);
    expect(trail.body.decisions).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'auth-tests', outcome: 'skipped', reason: 'duplicate' })]));

    const escalation = await ended(critical.body.runs[0].run_id);
    expect(escalation.status).toBe('completed');
    expect(escalation.trace_id).toBe(traceId);
    expect(escalation.steps.map((s) => s.step_id)).toEqual(['heal', 'settle', 'verdict', 'verify']);
    expect((await ended(warning.body.runs[0].run_id)).status).toBe('completed');

    // Bucket holds each event's decisions (the repeat's duplicate included).
    await poll('the routed events in Bucket', async () => {
      const rows = await queryRows<{ routed: string; data: { skipped: { reason: string }[] } }>(
        stack.databaseUrls.bucket,
        `SELECT event_data->>'routed_event_id' AS routed, event_data AS data FROM bucket_entries WHERE event_type = 'event_routed'`,
      );
      const repeatRow = rows.find((r) => r.routed === repeat.body.event_id);
      return rows.length >= 3 && repeatRow?.data.skipped.some((s) => s.reason === 'duplicate') ? rows : undefined;
    }, 60_000);

    // One trace: the publisher's span → Core's routing span → the run and its steps, to the last one.
    // Spans arrive in batches from four processes: wait until every span but the routing one has its parent in the
    // trace (nothing between the event and the last step is cut) and all four services have reported.
    const spans = await poll('the trace from the event to the last step, every parent present', async () => {
      const list = receiver.spans().filter((s) => s.traceId === traceId);
      const ids = new Set(list.map((s) => s.spanId));
      const route = list.find((s) => s.name.startsWith('event.route'));
      // Bucket's and Karma's spans come from the audit and scoring deliveries, which may trail the last step.
      const complete =
        route !== undefined &&
        list.some((s) => s.name === 'workflow.step verify') &&
        ['core', 'workflow-executor', 'bucket', 'karma'].every((svc) => list.some((s) => s.serviceName === svc)) &&
        list.every((s) => s === route || !s.parentSpanId || ids.has(s.parentSpanId));
      return complete ? list : undefined;
    }, 90_000);
    const route = spans.find((s) => s.name.startsWith('event.route'))!;
    expect(route.parentSpanId).toBe(publisherSpan);
    expect(route.serviceName).toBe('core');
    const runSpan = spans.find((s) => s.name.startsWith('workflow.run incident-escalation'))!;
    expect(runSpan).toBeDefined();
    for (const step of ['heal', 'verify']) expect(spans.find((s) => s.name === `workflow.step ${step}`)?.parentSpanId).toBe(runSpan.spanId);
    expect(new Set(spans.map((s) => s.serviceName))).toEqual(new Set(['core', 'workflow-executor', 'bucket', 'karma']));
  });
});
