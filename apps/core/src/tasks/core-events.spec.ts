import { FIELD_LIMITS, MAX_BODY_BYTES, TaskStatus } from '@pancha/contracts';
import { taskDispatchDeadEvent, taskDispatchedEvent } from './core-events';
import { TaskEntity } from './task.entity';

const task = Object.assign(new TaskEntity(), {
  taskId: '3f1c2b9e-1111-4222-8333-444455556666',
  traceId: 'a'.repeat(32),
  userId: 'u-1',
  product: null,
  actionType: 'ai',
  decision: 'workflow',
  createdAt: new Date('2025-01-01T00:00:00Z'),
});

describe('Core events stay within what Bucket accepts', () => {
  it('task_dispatched carries a huge executor result cut to size, naming the cut field', () => {
    const event = taskDispatchedEvent(task, TaskStatus.DispatchedSuccess, { success: true, response: 'r'.repeat(400_000), model: 'm' });
    expect(Buffer.byteLength(JSON.stringify({ requester_id: 'bhiv_core', event_data: event }))).toBeLessThan(MAX_BODY_BYTES);
    expect(event.execution_result).toEqual({ success: true, response: 'r'.repeat(FIELD_LIMITS.resultText), model: 'm', truncated_fields: ['response'] });
  });

  it('task_dispatched keeps a normal result as it is, and null as null', () => {
    expect(taskDispatchedEvent(task, TaskStatus.DispatchedSuccess, { success: true, task_id: 't' }).execution_result).toEqual({ success: true, task_id: 't' });
    expect(taskDispatchedEvent(task, TaskStatus.DispatchedFailed, null).execution_result).toBeNull();
  });

  it('task_dispatch_dead bounds its reason', () => {
    expect(taskDispatchDeadEvent(task, 'x'.repeat(1_000_000)).reason).toHaveLength(FIELD_LIMITS.resultText);
  });
});
