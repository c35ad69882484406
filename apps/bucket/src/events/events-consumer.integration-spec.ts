/**
 * Bucket with NATS_URL set: the real app (real PostgreSQL, real NATS on a throw-away stream) consumes the
 * events its producers publish the way their outbox handlers do (JetStreamPublisher, the same bodies as
 * POST /workflow/write-event and /core/write-event). Skipped, saying so, when NATS_URL is unset.
 */
import { EventTopic, RequesterId } from '@pancha/contracts';
import { connectJetStream, createTestStream, DLQ_HEADERS, JetStreamConsumerHost, JetStreamPublisher, testNatsUrl, type TestStream } from '@pancha/nats-transport';
import { eventually, type ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import { bootBucket } from '../testing/bucket-test-app';
import { EventsService } from './events.service';

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

  it('stores a body whose event_data names __proto__ or constructor with those members, as sent', async () => {
    const body = workflowEvent();
    const eventId = body.event_data.event_id;
    const payload = JSON.parse(JSON.stringify(body).replace('"event_type"', '"__proto__":{"polluted":true},"execution":{"constructor":"c"},"event_type"'));
    await asExecutor.publish({ topic: 'bucket.workflow-event', audience: 'bucket', messageKey: 'proto-members', payload });
    await eventually(async () => expect(await rowsOf(eventId)).toHaveLength(1));
    const [{ t }] = await bucket.dataSource.query('SELECT event_data::text AS t FROM bucket_entries WHERE event_id = $1', [eventId]);
    expect(t).toContain('"__proto__": {"polluted": true}');
    expect(t).toContain('"constructor": "c"');
  });

  describe('a relay batch (one message on <topic>.batch)', () => {
    const batchOf = (bodies: ReturnType<typeof workflowEvent>[]) => ({
      topic: EventTopic.BucketWorkflowEvent as const,
      audience: 'bucket' as const,
      messageKeys: bodies.map((b) => `batch-${b.event_data.event_id}`),
      items: bodies.map((body) => ({ body })),
    });

    it('appends the good events in one transaction and dead-letters only the poisoned one', async () => {
      const [first, third] = [workflowEvent(), workflowEvent()];
      const poisoned = { ...workflowEvent(), requester_id: RequesterId.Core };
      const writeBatch = jest.spyOn(bucket.app.get(EventsService), 'writeBatch');
      try {
        expect(await asExecutor.publishBatch(batchOf([first, poisoned, third]))).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
        const dead = await deadLetter(poisoned.event_data.event_id);
        expect(dead.headers?.get(DLQ_HEADERS.reason)).toMatch(/^403 requester_mismatch: /);
        expect(dead.headers?.get(DLQ_HEADERS.batchIndex)).toBe('1');
        expect(dead.headers?.get(DLQ_HEADERS.subject)).toBe(`${stream.settings.subjectPrefix}.bucket.workflow-event`);
        expect(await rowsOf(poisoned.event_data.event_id)).toEqual([]);
        expect(await rowsOf(first.event_data.event_id)).toHaveLength(1);
        expect(await rowsOf(third.event_data.event_id)).toHaveLength(1);
        // One call of the batch method for the three events: one append.
        expect(writeBatch).toHaveBeenCalledTimes(1);
        // The two stored entries share one transaction.
        const xmins = (await bucket.dataSource.query('SELECT DISTINCT xmin::text FROM bucket_entries WHERE event_id = ANY($1)', [
          [first.event_data.event_id, third.event_data.event_id],
        ])) as unknown[];
        expect(xmins).toHaveLength(1);
        await eventually(async () => expect(await stream.storedCount('bucket')).toBe(0));
      } finally {
        writeBatch.mockRestore();
      }
    });

    it('duplicates nothing when the consumer stops between the commit and the acknowledgement', async () => {
      const bodies = [workflowEvent(), workflowEvent()];
      const server = bucket.app.get(JetStreamConsumerHost).server as unknown as { settleEvents: (...args: unknown[]) => Promise<void> };
      const writeBatch = jest.spyOn(bucket.app.get(EventsService), 'writeBatch');
      // The first delivery commits, then its acknowledgement never happens (as if the process died there): the
      // message is redelivered (nak stands in for the ack timeout, which would take 30 s).
      const settle = jest.spyOn(server, 'settleEvents').mockImplementationOnce(async (_link, msg) => (msg as { nak(): void }).nak());
      try {
        await asExecutor.publishBatch(batchOf(bodies));
        await eventually(async () => expect(writeBatch).toHaveBeenCalledTimes(2));
        await eventually(async () => expect(await stream.storedCount('bucket')).toBe(0));
        for (const body of bodies) expect(await rowsOf(body.event_data.event_id)).toHaveLength(1);
        // The redelivery found both events stored: replays, answered 200, nothing dead-lettered.
        const second = (await writeBatch.mock.results[1].value) as { status: number; replayed?: boolean }[];
        expect(second.map((o) => [o.status, o.replayed])).toEqual([
          [200, true],
          [200, true],
        ]);
        expect((await stream.deadLetters('bucket')).filter((m) => bodies.some((b) => m.string().includes(b.event_data.event_id)))).toEqual([]);
      } finally {
        settle.mockRestore();
        writeBatch.mockRestore();
      }
    });
  });
});
