import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import type { EngineEvent, RunRecord } from '@pancha/workflow-engine';
import { routerEventMessage } from './router-events';

const run = (over: Partial<RunRecord> = {}): RunRecord => ({
  id: 'r1',
  workflow: 'onboard',
  version: '1.2.0',
  status: 'completed',
  inputs: {},
  output: { task_id: 't1' },
  user_id: 'u1',
  trace_id: 'a'.repeat(32),
  pins: {},
  cancel_requested: false,
  created_at: new Date('2026-01-01T00:00:00Z'),
  ...over,
});
const at = new Date('2026-01-01T00:01:00Z');
const ev = (type: EngineEvent['type'], extra: Partial<EngineEvent> = {}): EngineEvent => ({ type, at, status: 'x', ...extra });

describe('routerEventMessage', () => {
  it('publishes a run’s end to Core’s router with a stable id (a redelivery is the same event)', () => {
    const message = routerEventMessage(run(), ev('workflow.completed'), 'root-1')!;
    expect(message.topic).toBe(EventTopic.CoreWorkflowEvent);
    expect(message.payload).toEqual({
      id: `r1:workflow.completed:${at.getTime()}`,
      type: 'workflow.completed',
      source: 'workflow-executor',
      subject: 'r1',
      time: at.toISOString(),
      data: { run_id: 'r1', root_run_id: 'root-1', workflow: 'onboard', version: '1.2.0', trace_id: 'a'.repeat(32), user_id: 'u1', output: { task_id: 't1' } },
    });
    expect(routerEventMessage(run(), ev('workflow.completed'), 'root-1')).toEqual(message);
  });

  it('carries the error of a failed run, and leaves out an output too large to route', () => {
    const failed = routerEventMessage(run({ status: 'failed' }), ev('workflow.failed', { error: { code: 'boom', message: 'b' } as EngineEvent['error'] }), 'r1')!;
    expect((failed.payload as PublishEventRequest).data).toMatchObject({ error: { code: 'boom' } });
    const big = routerEventMessage(run({ output: 'x'.repeat(9000) }), ev('workflow.completed'), 'r1')!;
    expect((big.payload as PublishEventRequest).data).not.toHaveProperty('output');
  });

  it('publishes nothing for other lifecycle events', () => {
    for (const type of ['workflow.started', 'workflow.step_completed', 'workflow.cancelled'] as const) expect(routerEventMessage(run(), ev(type), 'r1')).toBeUndefined();
  });
});
