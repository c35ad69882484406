import type { ExecutionResult } from '@pancha/contracts';
import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';

export type ExecutionRowStatus = 'running' | 'success' | 'failed';

/**
 * One execution per trace_id: the unique constraint decides which request executes; every later one
 * replays the stored result. Schema owned by the CreateExecutorTables migration.
 */
@Entity({ name: 'executions' })
@Unique('UQ_executions_trace_id', ['traceId'])
export class ExecutionEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'trace_id', type: 'varchar', length: 128 })
  traceId: string;

  @Column({ type: 'varchar', length: 16 })
  status: ExecutionRowStatus;

  @Column({ name: 'action_type', type: 'varchar', length: 64, nullable: true })
  actionType: string | null;

  @Column({ type: 'jsonb' })
  request: unknown;

  @Column({ type: 'jsonb', nullable: true })
  result: ExecutionResult | null;

  /** When the current attempt began; a running row older than the lease is declared dead. */
  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
