/**
 * The whole stack with NATS_URL set: the same request as stack.e2e-spec.ts, but the event hops
 * (Executor → Bucket, Executor → Karma, Core → Bucket) travel over JetStream (a stream of this run's own,
 * deleted afterwards) while Core → Executor stays HTTP. Asserts the Bucket row, the Karma ledger entry, empty
 * dead-letter subjects, and one trace across the four services with each consumer span parented under its
 * producer's publish span. Skipped, saying so, when NATS_URL is unset.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { RequesterId, type ServiceName } from '@pancha/contracts';
import { createTestStream, testNatsUrl, type TestStream } from '@pancha/nats-transport';
import { freePort, httpJson, poll, queryRows, startOtlpReceiver, testKeysAt, testServerUrl } from '@pancha/testing';
import { startStack, RunningStack } from '@pancha/stack';

type Receiver = Awaited<ReturnType<typeof startOtlpReceiver>>;

// Per test: the root config's 30 s (a project's own testTimeout is ignored when every project runs) is no more than
// one of the polls below may take on a busy machine, as in the other stack e2e suites.
jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../../..');
const SERVICES: ServiceName[] = ['karma', 'bucket', 'core', 'workflow-executor'];
const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[stack-e2e] NATS_URL is unset: skipping the stack over JetStream');
const describeNats = NATS_URL ? describe : describe.skip;

describeNats('the Pancha stack over NATS JetStream, end to end', () => {
  let stack: RunningStack;
  let receiver: Receiver;
  let stream: TestStream;
  let accepted: { task_id: string; trace_id: string };

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stream = await createTestStream(NATS_URL as string, 'E2E');
    const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()] as const)));
    stack = await startStack({
      rootDir: ROOT,
      dataDir: mkdtempSync(path.join(tmpdir(), 'pancha-e2e-nats-data-')),
      databaseUrl: testServerUrl(),
      databasePrefix: `e2enats_${randomBytes(3).toString('hex')}_`,
      ports,
      logDir: mkdtempSync(path.join(tmpdir(), 'pancha-e2e-nats-logs-')),
      dropDatabasesOnStop: true,
      env: {
        ...stream.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        LOG_LEVEL: 'info',
      },
      // The single-action path alone: no workflow manifests, so nothing else (workflow.registered) is on the chain.
      serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: mkdtempSync(path.join(tmpdir(), 'no-workflows-')) } },
    });
  }, 180000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    await stream?.delete();
  }, 60000);

  it('POST /handle_task answers 202 and the task is dispatched over HTTP to the executor', async () => {
    const res = await httpJson('POST', `${stack.urls.core}/handle_task`, { input: 'create a task to review the NATS transport', user_id: 'u-nats' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ decision: 'workflow' });
    accepted = res.body;
    const task = await poll('the task to be dispatched with its Bucket timeline', async () => {
      const t = await httpJson('GET', `${stack.urls.core}/tasks/${accepted.task_id}`);
      const types = (t.body.timeline ?? []).map((e: { event_type: string }) => e.event_type);
      return t.body.status === 'dispatched_success' && types.includes('workflow_execution') ? t.body : undefined;
    });
    expect(task.execution_result).toMatchObject({ success: true, task_status: 'CREATED' });
  });

  it('Bucket stored the workflow_execution event (from JetStream) once, beside Core\'s two task events', async () => {
    const rows = await poll('the Bucket rows of the trace', async () => {
      const found = await queryRows<{ requester_id: string; channel: string; event_type: string; event_data: Record<string, unknown> }>(
        stack.databaseUrls.bucket,
        `SELECT requester_id, channel, event_type, event_data FROM bucket_entries WHERE trace_id = $1 ORDER BY seq`,
        [accepted.trace_id],
      );
      return found.some((r) => r.event_type === 'task_dispatched') ? found : undefined;
    });
    const workflow = rows.filter((r) => r.event_type === 'workflow_execution');
    expect(workflow).toHaveLength(1);
    expect(workflow[0]).toMatchObject({ requester_id: 'workflow_executor', channel: 'workflow' });
    expect(workflow[0].event_data).toMatchObject({ trace_id: accepted.trace_id, action_type: 'task', status: 'success' });
    expect(rows.filter((r) => r.channel === 'core').map((r) => r.requester_id)).toEqual(['bhiv_core', 'bhiv_core']);
  });

  it('Karma recorded the workflow_success life event in its ledger', async () => {
    const entries = await poll('the workflow_success ledger entry', async () => {
      const found = await queryRows<{ action: string; amount: number }>(
        stack.databaseUrls.karma,
        `SELECT action, amount FROM karma_ledger WHERE user_id = 'u-nats'`,
        [],
      );
      return found.length ? found : undefined;
    });
    expect(entries).toEqual([{ action: 'workflow_success', amount: 2 }]);
  });

  it('nothing was dead-lettered, the stream is drained, and both outboxes balance', async () => {
    expect(await stream.deadLetters('bucket')).toEqual([]);
    expect(await stream.deadLetters('karma')).toEqual([]);
    await poll('the stream to drain', async () => ((await stream.storedCount()) === 0 ? true : undefined));
    for (const svc of ['core', 'workflow-executor'] as const) {
      const stats = await poll(`${svc} outbox drained`, async () => {
        // A reader each service's policy names: PRANA on Core, Core on the executor.
        const reader = svc === 'core' ? RequesterId.Prana : RequesterId.Core;
        const res = await httpJson('GET', `${stack.urls[svc]}/outbox/stats`, undefined, await testKeysAt(stack.keysDir).mint(reader, svc));
        return res.status === 200 && res.body.pending === 0 ? res.body : undefined;
      });
      expect(stats.dead).toBe(0);
      expect(stats.emitted).toBe(stats.delivered);
    }
  });

  it('one trace holds all four services; every consumer span hangs under its producer publish span', async () => {
    const subject = (topic: string) => `${stream.settings.subjectPrefix}.${topic}`;
    // Spans arrive in batches, children often before their parents: wait until every parent a span names has
    // arrived too (and the executor's server span), not only until the consumer spans are there.
    const spans = await poll('the consumer spans of Bucket and Karma, every parent present', async () => {
      const mine = receiver.spans().filter((s) => s.traceId === accepted.trace_id);
      const services = new Set(mine.map((s) => s.serviceName));
      const ids = new Set(mine.map((s) => s.spanId));
      const consumers = mine.filter((s) => s.kind === SpanKind.CONSUMER && s.name.endsWith(' process'));
      const complete =
        SERVICES.every((s) => services.has(s)) &&
        consumers.length >= 4 &&
        mine.some((s) => s.serviceName === 'workflow-executor' && s.kind === SpanKind.SERVER) &&
        mine.every((s) => !s.parentSpanId || ids.has(s.parentSpanId));
      return complete ? mine : undefined;
    });
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots).toHaveLength(1);
    expect(roots[0].serviceName).toBe('core');
    for (const s of spans) {
      if (s.parentSpanId) expect(byId.has(s.parentSpanId)).toBe(true);
    }
    const parentOf = (name: string, service: string) =>
      spans
        .filter((s) => s.name === name && s.serviceName === service && s.kind === SpanKind.CONSUMER)
        .map((s) => byId.get(s.parentSpanId ?? ''))
        .map((p) => p && { service: p.serviceName, name: p.name, kind: p.kind });
    const publishBy = (service: string, topic: string) => ({ service, name: `${subject(topic)} publish`, kind: SpanKind.PRODUCER });

    expect(parentOf(`${subject('bucket.workflow-event')} process`, 'bucket')).toEqual([publishBy('workflow-executor', 'bucket.workflow-event')]);
    expect(parentOf(`${subject('karma.life-event')} process`, 'karma')).toEqual([publishBy('workflow-executor', 'karma.life-event')]);
    const coreEvents = parentOf(`${subject('bucket.core-event')} process`, 'bucket');
    expect(coreEvents.length).toBe(2);
    for (const p of coreEvents) expect(p).toEqual(publishBy('core', 'bucket.core-event'));
    // The executor is still called over HTTP: its server span hangs under a Core client span.
    const executorServer = spans.filter((s) => s.serviceName === 'workflow-executor' && s.kind === SpanKind.SERVER);
    expect(executorServer.map((s) => byId.get(s.parentSpanId ?? '')?.serviceName)).toContain('core');
    // And no Bucket or Karma HTTP server span: the events did not go over HTTP.
    expect(spans.filter((s) => ['bucket', 'karma'].includes(s.serviceName) && s.kind === SpanKind.SERVER)).toEqual([]);
  });
});
