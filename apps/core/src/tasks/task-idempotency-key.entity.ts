import type { HandleTaskAccepted, HandleTasksAccepted } from '@pancha/contracts';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * An Idempotency-Key a requester sent with POST /handle_task or /handle_tasks, and the first answer to it. Schema owned by
 * TaskIdempotencyKeys1764345100000; kept as long as the task it names.
 */
@Entity({ name: 'task_idempotency_keys' })
export class TaskIdempotencyKeyEntity {
  @PrimaryColumn({ name: 'requester_id', type: 'varchar', length: 64 })
  requesterId: string;

  @PrimaryColumn({ name: 'idempotency_key', type: 'varchar', length: 255 })
  idempotencyKey: string;

  /** sha256 (hex) of the canonical JSON of the validated body: the same key with another body is a 409. */
  @Column({ name: 'request_hash', type: 'char', length: 64 })
  requestHash: string;

  /** The task the answer names (a batch's first): the key is kept as long as it. */
  @Column({ name: 'task_id', type: 'uuid' })
  taskId: string;

  /** The 202 body, returned unchanged to every retry. */
  @Column({ type: 'jsonb' })
  response: HandleTaskAccepted | HandleTasksAccepted;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;
}
