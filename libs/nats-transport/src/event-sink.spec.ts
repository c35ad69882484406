import { type BucketWorkflowEventBody, EventTopic, type KarmaLifeEventBody, RequesterId, type ServiceName } from '@pancha/contracts';
import { AckPolicy } from 'nats';
import { createEventSink, HttpEventSink, JetStreamEventSink } from './event-sink';
import { headerRecord } from './jetstream.server';
import { createTestStream, testNatsUrl } from './testing/test-stream';

type Hop = EventTopic.BucketWorkflowEvent | EventTopic.KarmaLifeEvent;

const bucketBody: BucketWorkflowEventBody = {
  requester_id: RequesterId.WorkflowExecutor,
  event_data: {
    event_id: '6f1c8a52-5d1b-4a8e-9a43-0d6f4c1e2b71',
    event_type: 'workflow_execution',
    trace_id: 't-1',
    action_type: 'task',
    status: 'success',
    execution_result: { success: true },
    timestamp: '2025-01-02T03:04:05.000Z',
  },
};
const karmaBody: KarmaLifeEventBody = {
  type: 'life_event',
  source: 'workflow_executor',
  data: { event_id: '0b8e2a1c-3f4d-4c5e-8a9b-1c2d3e4f5a6b', user_id: 'u-1', action: 'workflow_success', context: { trace_id: 't-1', action_type: 'task' } },
};

const tokens = { tokenFor: async (audience: ServiceName) => `token-for-${audience}` };

describe('createEventSink', () => {
  it('without NATS_URL sends each hop through its HTTP route, keeping a failure as thrown', async () => {
    const sent: [string, unknown][] = [];
    const refusal = Object.assign(new Error('bucket answered 409 event_id_conflict'), { retryable: false });
    const sink = createEventSink<Hop>({
      config: {},
      tokens,
      name: 'test',
      http: {
        [EventTopic.BucketWorkflowEvent]: async (body) => {
          sent.push(['bucket', body]);
          throw refusal;
        },
        [EventTopic.KarmaLifeEvent]: async (body) => void sent.push(['karma', body]),
      },
    });
    expect(sink).toBeInstanceOf(HttpEventSink);
    expect(sink.transport).toBe('http');
    await sink.send(EventTopic.KarmaLifeEvent, 'k', karmaBody);
    await expect(sink.send(EventTopic.BucketWorkflowEvent, 'k', bucketBody)).rejects.toBe(refusal);
    expect(sent).toEqual([
      ['karma', karmaBody],
      ['bucket', bucketBody],
    ]);
    await sink.close();
  });

  it('with NATS_URL is a JetStream sink and never calls the HTTP routes', async () => {
    const http = { [EventTopic.BucketWorkflowEvent]: jest.fn(), [EventTopic.KarmaLifeEvent]: jest.fn() };
    const sink = createEventSink<Hop>({ config: { NATS_URL: 'nats://127.0.0.1:1', NATS_STREAM: 'X' }, tokens, name: 'test', http });
    expect(sink).toBeInstanceOf(JetStreamEventSink);
    expect(sink.transport).toBe('jetstream');
    await sink.close();
    expect(http[EventTopic.KarmaLifeEvent]).not.toHaveBeenCalled();
  });

  const natsUrl = testNatsUrl();
  (natsUrl ? it : it.skip)('over JetStream, publishes each hop to its subject with a token for the receiver named in the contracts', async () => {
    const stream = await createTestStream(natsUrl as string, 'SINK');
    const http = { [EventTopic.BucketWorkflowEvent]: jest.fn(), [EventTopic.KarmaLifeEvent]: jest.fn() };
    const sink = createEventSink<Hop>({ config: stream.env, tokens, name: 'test', http });
    try {
      await sink.send(EventTopic.KarmaLifeEvent, 'exec-1', karmaBody);
      await sink.send(EventTopic.BucketWorkflowEvent, 'exec-1', bucketBody);
      const jsm = await stream.nc.jetstreamManager();
      await jsm.consumers.add(stream.settings.stream, { durable_name: 'all', ack_policy: AckPolicy.Explicit });
      const consumer = await stream.nc.jetstream().consumers.get(stream.settings.stream, 'all');
      const received: [string, string, string, unknown][] = [];
      for (let i = 0; i < 2; i++) {
        const msg = await consumer.next({ expires: 5000 });
        if (!msg) throw new Error('nothing published');
        const headers = headerRecord(msg.headers);
        received.push([msg.subject, headers['authorization'], headers['nats-msg-id'], JSON.parse(msg.string())]);
        msg.ack();
      }
      const prefix = stream.settings.subjectPrefix;
      expect(received).toEqual([
        [`${prefix}.karma.life-event`, 'Bearer token-for-karma', 'karma.life-event:exec-1', karmaBody],
        [`${prefix}.bucket.workflow-event`, 'Bearer token-for-bucket', 'bucket.workflow-event:exec-1', bucketBody],
      ]);
    } finally {
      await sink.close();
      await stream.delete();
    }
  });
});
