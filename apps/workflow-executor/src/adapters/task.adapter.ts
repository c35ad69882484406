import { Injectable } from '@nestjs/common';
import { ActionType, ExecutorErrorCode, type WorkflowPayload } from '@pancha/contracts';
import { randomUUID } from 'node:crypto';
import { TaskEntity } from '../tasks/task.entity';
import { actionRow } from './action-rows';
import { type ActionAdapter, type ActionContext, type ActionOutcome, failure, optionalTextField, type ParseResult, textField } from './action-adapter';

export interface TaskInput {
  title: string;
  description: string | null;
}

/** Creates a task row in the executor's own database (readable at GET /api/tasks). */
@Injectable()
export class TaskAdapter implements ActionAdapter<TaskInput> {
  readonly actionType = ActionType.Task;
  /** The task row is its only effect, written with the step's completion. */
  readonly local = true;

  parse(payload: WorkflowPayload): ParseResult<TaskInput> {
    const title = textField(payload, 'title');
    if (!title) return { ok: false, failure: failure(ExecutorErrorCode.MissingTaskTitle, 'payload.title is required for action_type "task"') };
    return { ok: true, input: { title, description: optionalTextField(payload, 'description') } };
  }

  async execute(input: TaskInput, context: ActionContext): Promise<ActionOutcome> {
    const taskId = randomUUID();
    const row: TaskEntity = {
      id: taskId,
      userId: context.userId ?? null,
      title: input.title,
      description: input.description,
      status: 'CREATED',
      traceId: context.traceId,
      product: context.product ?? null,
      createdAt: new Date(),
      idempotencyKey: context.idempotencyKey ?? null,
    };
    return {
      success: true,
      result: { task_id: taskId, task_status: 'CREATED', reference: taskReference(taskId) },
      rows: [actionRow(TaskEntity, row)],
    };
  }
}

/** Short, human-quotable handle ("TASK-1A2B3C4D") for support conversations; task_id stays the real key. */
export function taskReference(taskId: string): string {
  return `TASK-${taskId.replace(/-/g, '').slice(0, 8).toUpperCase()}`;
}
