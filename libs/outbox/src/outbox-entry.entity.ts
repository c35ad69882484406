import { Check, Column, Entity, Generated, Index, PrimaryColumn, Unique } from 'typeorm';

export type OutboxStatus = 'pending' | 'delivered' | 'dead';

/**
 * One message a producer committed together with its own state change.
 * The schema is owned by CreateOutbox1763700000000 and OutboxOrderAndRenewableLeases1764000000000; this
 * mapping mirrors it (names included) so that a generated migration would find nothing to change.
 */
@Entity({ name: 'outbox' })
@Unique('UQ_outbox_topic_message_key', ['topic', 'messageKey'])
@Index('IDX_outbox_pending_seq', ['seq'], { where: `"status" = 'pending'` })
@Index('IDX_outbox_delivered_at', ['deliveredAt'], { where: `"status" = 'delivered'` })
@Index('IDX_outbox_pending_ordering_key', ['orderingKey', 'seq'], { where: `"status" = 'pending' AND "ordering_key" IS NOT NULL` })
@Check('CHK_outbox_status', `"status" IN ('pending', 'delivered', 'dead')`)
@Check('CHK_outbox_attempts', `"attempts" >= 0`)
@Check('CHK_outbox_lease_only_while_pending', `"lease_token" IS NULL OR "status" = 'pending'`)
export class OutboxEntryEntity {
  /** Assigned by OutboxService.enqueue (no database default, so no uuid extension is needed). */
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'PK_outbox' })
  id: string;

  /** Enqueue order (a sequence): rows are claimed by it, and rows of one ordering key are delivered in it. */
  @Column({ type: 'bigint' })
  @Generated('increment')
  seq: string;

  @Column({ type: 'varchar', length: 255 })
  topic: string;

  @Column({ name: 'message_key', type: 'varchar', length: 255 })
  messageKey: string;

  /** Rows sharing a key are delivered strictly one after another, in `seq` order; null = no ordering. */
  @Column({ name: 'ordering_key', type: 'varchar', length: 255, nullable: true })
  orderingKey: string | null;

  @Column({ type: 'jsonb' })
  payload: unknown;

  /** W3C trace context (traceparent/tracestate) captured at enqueue, so delivery joins the producer's trace. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  headers: Record<string, string>;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: OutboxStatus;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt: Date;

  /** Lease of the relay that claimed the row, renewed while it works; another relay may take it once it has passed. */
  @Column({ name: 'locked_until', type: 'timestamptz', nullable: true })
  lockedUntil: Date | null;

  /** The claim holding the row; recording an outcome requires it, so a relay whose lease lapsed cannot. */
  @Column({ name: 'lease_token', type: 'uuid', nullable: true })
  leaseToken: string | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt: Date | null;
}
