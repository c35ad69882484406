/**
 * Bucket with NATS_URL set: the real app (real PostgreSQL, real NATS on a throw-away stream) consumes the
 * events its producers publish the way their outbox handlers do (JetStreamPublisher, the same bodies as
 * POST /workflow/write-event and /core/write-event). Skipped, saying so, when NATS_URL is unset.
 */
import { RequesterId } from '@pancha/contracts';
import { connectJetStream, createTestStream, DLQ_HEADERS, JetStreamPublisher, testNatsUrl, type TestStream } from '@pancha/nats-transport';
import { eventually, type ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import { bootBucket } from '../testing/bucket-test-app';

jest.setTimeout(60_000);

const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[bucket] NATS_URL is unset: skipping the JetStream consumer tests');
const describeNats = NATS_URL ? describe : describe.skip;

describeNats('bucket consuming events from JetStream', () => {
  let stream: TestStream;
  let bucket: ServiceWithDatabase;
  let asExecutor: JetStreamPublisher;
  let asCore: JetStreamPublisher;

  const rowsOf = async (eventId: string) =>
    (await bucket.dataSource.query('SELECT requester_id, channel, event_type, trace_id, event_data FROM bucket_entries WHERE event_id = $1', [eventId])) as {
      requester_id: string;
      channel: string;
      event_type: string;
      trace_id: string;
      event_data: Record<string, unknown>;
    }[];

  /** The body BucketWorkflowEventHandler publishes (WorkflowEventPayload). */
  function workflowEvent(eventId = randomUUID()) {
    return {
      requester_id: RequesterId.WorkflowExecutor,
      event_data: {
        event_id: eventId,
        event_type: 'workflow_execution',
        trace_id: 'a'.repeat(32),
        action_type: 'task',
        status: 'success',
        execution_result: { success: true, task_id: 't-1', task_status: 'CREATED' },
        timestamp: '2025-01-02T03:04:05.000Z',
        user_id: 'u-nats',
      },
    };
  }

  async function deadLetter(eventId: string) {
    return eventually(async () => {
      const found = (await stream.deadLetters('bucket')).find((m) => JSON.parse(m.string()).event_data?.event_id === eventId);
      if (!found) throw new Error(`no dead letter for ${eventId} yet`);
      return found;
    });
  }

  beforeAll(async () => {
    stream = await createTestStream(NATS_URL as string, 'BUCKET');
    bucket = await bootBucket({ database: 'bucket_nats', env: stream.env, microservices: (nest) => expect(connectJetStream(nest)).toBe(true) });
    asExecutor = new JetStreamPublisher(stream.settings, bucket.keys.tokensFor(RequesterId.WorkflowExecutor));
    asCore = new JetStreamPublisher(stream.settings, bucket.keys.tokensFor(RequesterId.Core));
  });

  afterAll(async () => {
    await asExecutor?.close();
    await asCore?.close();
    await bucket?.close();
    await stream?.delete();
  });

  it('stores a workflow_execution event from the executor once, even when it is published twice', async () => {
    const body = workflowEvent();
    const eventId = body.event_data.event_id;
    // Two outbox rows (or a retry after the duplicate window): different message ids, so JetStream keeps both.
    await asExecutor.publish({ topic: 'bucket.workflow-event', audience: 'bucket', messageKey: 'exec-1', payload: body });
    await asExecutor.publish({ topic: 'bucket.workflow-event', audience: 'bucket', messageKey: 'exec-1-again', payload: body });
    await eventually(async () => expect(await stream.storedCount()).toBe(0));
    const rows = await rowsOf(eventId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      requester_id: 'workflow_executor',
      channel: 'workflow',
      event_type: 'workflow_execution',
      trace_id: 'a'.repeat(32),
      event_data: body.event_data,
    });
    expect(await stream.deadLetters('bucket')).toHaveLength(0);
  });

  it("stores Core's task events on the core channel", async () => {
    const eventId = randomUUID();
    const body = { requester_id: RequesterId.Core, event_data: { event_id: eventId, event_type: 'task_received', task_id: 'task-1', user_id: 'u-nats' } };
    await asCore.publish({ topic: 'bucket.core-event', audience: 'bucket', messageKey: `task_received:task-1`, payload: body });
    const rows = await eventually(async () => {
      const found = await rowsOf(eventId);
      expect(found).toHaveLength(1);
      return found;
    });
    expect(rows[0]).toMatchObject({ requester_id: 'bhiv_core', channel: 'core', event_type: 'task_received' });
  });

  it('dead-letters a body whose requester_id is not the token subject, storing nothing', async () => {
    const body = { ...workflowEvent(), requester_id: RequesterId.Core };
    await asExecutor.publish({ topic: 'bucket.workflow-event', audience: 'bucket', messageKey: 'forged-requester', payload: body });
    const dead = await deadLetter(body.event_data.event_id);
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toMatch(/^403 requester_mismatch: /);
    expect(await rowsOf(body.event_data.event_id)).toEqual([]);
  });

  it('dead-letters an event_id reused with other content (409) and a body that fails validation (422)', async () => {
    const original = workflowEvent();
    await asExecutor.publish({ topic: 'bucket.workflow-event', audience: 'bucket', messageKey: 'conflict-1', payload: original });
    await eventually(async () => expect(await rowsOf(original.event_data.event_id)).toHaveLength(1));
    const changed = { ...original, event_data: { ...original.event_data, status: 'failed' } };
    await asExecutor.publish({ topic: 'bucket.workflow-event', audience: 'bucket', messageKey: 'conflict-2', payload: changed });
    expect((await deadLetter(original.event_data.event_id)).headers?.get(DLQ_HEADERS.reason)).toMatch(/^409 /);
    expect((await rowsOf(original.event_data.event_id))[0].event_data).toMatchObject({ status: 'success' });

    const invalid = { requester_id: RequesterId.WorkflowExecutor, event_data: { event_id: 'not-a-uuid', event_type: 'workflow_execution' } };
    await asExecutor.publish({ topic: 'bucket.workflow-event', audience: 'bucket', messageKey: 'invalid', payload: invalid });
    expect((await deadLetter('not-a-uuid')).headers?.get(DLQ_HEADERS.reason)).toMatch(/^422 validation_failed: .*event_data\.event_id/);
  });
});
