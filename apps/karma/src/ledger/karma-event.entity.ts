import type { KarmaEventReply } from '@pancha/contracts';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** An accepted event: the idempotency key, what it contained (fingerprint) and the reply a repeat gets. */
@Entity({ name: 'karma_event' })
@Index('IDX_karma_event_user_recorded', ['userId', 'recordedAt'])
export class KarmaEventEntity {
  @PrimaryColumn({ name: 'event_id', type: 'uuid' })
  eventId: string;

  @Column({ type: 'varchar', length: 32 })
  type: string;

  @Column({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  @Column({ type: 'char', length: 64 })
  fingerprint: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  source: string | null;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt: Date;

  @Column({ name: 'recorded_at', type: 'timestamptz' })
  recordedAt: Date;

  /** json, not jsonb: the reply's text as first sent (member order included), so a replay answers it byte for byte. */
  @Column({ type: 'json' })
  reply: KarmaEventReply;
}
