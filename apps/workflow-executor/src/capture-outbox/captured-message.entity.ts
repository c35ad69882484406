import type { MessageChannel } from '@pancha/contracts';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A message that was NOT delivered to anyone: with no SMTP server or WhatsApp account configured, the
 * email and whatsapp adapters keep it here (transport "capture") so developers can see what would have gone out.
 */
@Entity({ name: 'captured_messages' })
@Index('IDX_captured_messages_created_at', ['createdAt'])
@Index('IDX_captured_messages_product_created_at', ['product', 'createdAt'])
export class CapturedMessageEntity {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ type: 'varchar', length: 16 })
  channel: MessageChannel;

  @Column({ type: 'text' })
  recipient: string;

  @Column({ type: 'text', nullable: true })
  subject: string | null;

  @Column({ type: 'text' })
  body: string;

  @Column({ name: 'trace_id', type: 'varchar', length: 128 })
  traceId: string;

  /** payload.product of the workflow; readers narrowed to products see only theirs (T9). */
  @Column({ type: 'varchar', length: 128, nullable: true })
  product: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'idempotency_key', type: 'text', nullable: true })
  idempotencyKey?: string | null;
}
