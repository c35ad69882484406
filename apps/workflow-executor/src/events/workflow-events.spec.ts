import { EventTopic, ExecutorErrorCode } from '@pancha/contracts';
import { type CompletedExecution, workflowOutboxMessages } from './workflow-events';

const BUCKET_WORKFLOW_EVENT_TOPIC = EventTopic.BucketWorkflowEvent;
const KARMA_LIFE_EVENT_TOPIC = EventTopic.KarmaLifeEvent;

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const on = { WORKFLOW_EVENTS_ENABLED: true, WORKFLOW_BEHAVIORAL_TRACKING: true };

const execution: CompletedExecution = {
  executionKey: 'key-1',
  traceId: 'trace-1',
  actionType: 'Task',
  status: 'success',
  result: { success: true, task_id: 't' },
  userId: 'u-1',
  product: 'gurukul',
  completedAt: new Date('2025-01-02T03:04:05.000Z'),
};

describe('workflowOutboxMessages', () => {
  it('emits the Bucket workflow_execution event and the Karma life event, keyed by the execution', () => {
    const [bucket, karma] = workflowOutboxMessages(execution, on);
    expect(bucket).toEqual({
      topic: BUCKET_WORKFLOW_EVENT_TOPIC,
      messageKey: 'key-1',
      payload: {
        requester_id: 'workflow_executor',
        event_data: {
          event_id: expect.stringMatching(UUID_V4),
          event_type: 'workflow_execution',
          trace_id: 'trace-1',
          action_type: 'task',
          status: 'success',
          execution_result: { success: true, task_id: 't' },
          timestamp: '2025-01-02T03:04:05.000Z',
          product: 'gurukul',
          user_id: 'u-1',
        },
      },
    });
    expect(karma).toEqual({
      topic: KARMA_LIFE_EVENT_TOPIC,
      messageKey: 'key-1',
      payload: {
        type: 'life_event',
        source: 'workflow_executor',
        data: {
          event_id: expect.stringMatching(UUID_V4),
          user_id: 'u-1',
          action: 'workflow_success',
          context: { trace_id: 'trace-1', action_type: 'task' },
        },
      },
    });
  });

  it('reports a failure to Karma as workflow_failure', () => {
    const failed = workflowOutboxMessages(
      { ...execution, status: 'failed', result: { success: false, error_code: ExecutorErrorCode.AdapterTimeout } },
      on,
    );
    expect((failed[1].payload as { data: { action: string } }).data.action).toBe('workflow_failure');
  });

  it('gives every message a fresh event id', () => {
    const a = workflowOutboxMessages(execution, on);
    const b = workflowOutboxMessages(execution, on);
    expect((a[0].payload as { event_data: { event_id: string } }).event_data.event_id).not.toBe(
      (b[0].payload as { event_data: { event_id: string } }).event_data.event_id,
    );
  });

  it('sends nothing to Karma without a user, and omits absent fields from the Bucket event', () => {
    const messages = workflowOutboxMessages({ ...execution, userId: undefined, product: undefined, actionType: null }, on);
    expect(messages.map((m) => m.topic)).toEqual([BUCKET_WORKFLOW_EVENT_TOPIC]);
    const data = (messages[0].payload as { event_data: Record<string, unknown> }).event_data;
    expect(data).not.toHaveProperty('user_id');
    expect(data).not.toHaveProperty('product');
    expect(data.action_type).toBeNull();
  });

  it('honours the feature flags', () => {
    expect(workflowOutboxMessages(execution, { ...on, WORKFLOW_EVENTS_ENABLED: false }).map((m) => m.topic)).toEqual([KARMA_LIFE_EVENT_TOPIC]);
    expect(workflowOutboxMessages(execution, { ...on, WORKFLOW_BEHAVIORAL_TRACKING: false }).map((m) => m.topic)).toEqual([BUCKET_WORKFLOW_EVENT_TOPIC]);
    expect(workflowOutboxMessages(execution, { WORKFLOW_EVENTS_ENABLED: false, WORKFLOW_BEHAVIORAL_TRACKING: false })).toEqual([]);
  });
});
