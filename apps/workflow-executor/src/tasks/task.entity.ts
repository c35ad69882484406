import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A task created by the `task` adapter, in the same transaction as its execution's result. */
@Entity({ name: 'tasks' })
@Index('IDX_tasks_user_id_created_at', ['userId', 'createdAt'])
@Index('IDX_tasks_product_created_at', ['product', 'createdAt'])
export class TaskEntity {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 255, nullable: true })
  userId: string | null;

  @Column({ type: 'text' })
  title: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ type: 'varchar', length: 32, default: 'CREATED' })
  status: 'CREATED';

  @Column({ name: 'trace_id', type: 'varchar', length: 128 })
  traceId: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  product: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  /** `<run_id>:<step path>` when a workflow step created it: unique, so a repeated attempt adds no second task. */
  @Column({ name: 'idempotency_key', type: 'text', nullable: true })
  idempotencyKey?: string | null;
}
