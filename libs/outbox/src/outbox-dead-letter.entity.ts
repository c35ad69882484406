import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A message the relay gave up on, with why. Its id is the id of the outbox row it came from. */
@Entity({ name: 'outbox_dead_letter' })
export class OutboxDeadLetterEntity {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'PK_outbox_dead_letter' })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  topic: string;

  @Column({ name: 'message_key', type: 'varchar', length: 255 })
  messageKey: string;

  @Column({ type: 'jsonb' })
  payload: unknown;

  @Column({ type: 'jsonb' })
  headers: Record<string, string>;

  @Column({ type: 'int' })
  attempts: number;

  @Column({ type: 'text' })
  reason: string;

  @Column({ name: 'failed_at', type: 'timestamptz', default: () => 'now()' })
  failedAt: Date;
}
