import type { Decision, TaskStatus } from '@pancha/contracts';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One submitted task and what became of it. Schema owned by CreateTasks1763800000000 (names mirrored). */
@Entity({ name: 'tasks' })
@Index('IDX_tasks_user_id_created_at', ['userId', 'createdAt'])
export class TaskEntity {
  @PrimaryColumn({ name: 'task_id', type: 'uuid' })
  taskId: string;

  /** The executor's idempotency key, hence unique: one trace, one task (see TasksService). */
  @Index('UQ_tasks_trace_id', { unique: true })
  @Column({ name: 'trace_id', type: 'varchar', length: 32 })
  traceId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 255 })
  userId: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  product: string | null;

  /** The `agent` the caller named in its request. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  agent: string | null;

  @Column({ type: 'text' })
  input: string;

  @Column({ name: 'input_type', type: 'varchar', length: 64, nullable: true })
  inputType: string | null;

  @Column({ type: 'jsonb', default: () => "'[]'::jsonb" })
  tags: string[];

  @Column({ type: 'varchar', length: 16 })
  decision: Decision;

  @Column({ name: 'action_type', type: 'varchar', length: 32, nullable: true })
  actionType: string | null;

  @Column({ type: 'jsonb', nullable: true })
  payload: Record<string, string> | null;

  /** Which agent and rule decided (`rule:task.create`, `llm`). */
  @Column({ name: 'decided_by', type: 'varchar', length: 128 })
  decidedBy: string;

  /** Why the LLM agent's answer was not used, when it was not. */
  @Column({ name: 'agent_note', type: 'text', nullable: true })
  agentNote: string | null;

  @Column({ type: 'varchar', length: 32 })
  status: TaskStatus;

  /** The workflow run a workflow decision started (decisions that name a versioned workflow). */
  @Column({ name: 'run_id', type: 'uuid', nullable: true })
  runId?: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  workflow?: string | null;

  @Column({ name: 'execution_result', type: 'jsonb', nullable: true })
  executionResult: Record<string, unknown> | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
