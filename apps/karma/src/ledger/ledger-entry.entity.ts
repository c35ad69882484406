import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { LedgerKind } from '../model/ledger-entry';

/**
 * One row of the append-only ledger (a trigger refuses UPDATE, DELETE and TRUNCATE). The hot path writes it
 * with plain SQL in PgKarmaStore; the entity documents the schema for TypeORM.
 */
@Entity({ name: 'karma_ledger' })
@Index('IDX_karma_ledger_user_seq', ['userId', 'seq'])
export class LedgerEntryEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  seq: string;

  @Column({ name: 'event_id', type: 'uuid' })
  eventId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  kind: LedgerKind;

  @Column({ type: 'varchar', length: 64, nullable: true })
  action: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  token: string | null;

  @Column({ type: 'double precision' })
  amount: number;

  @Column({ name: 'paap_class', type: 'varchar', length: 32, nullable: true })
  paapClass: string | null;

  @Column({ name: 'ref_seq', type: 'bigint', nullable: true })
  refSeq: string | null;

  @Column({ type: 'jsonb', default: () => `'{}'` })
  details: Record<string, unknown>;

  @Column({ name: 'effective_at', type: 'timestamptz' })
  effectiveAt: Date;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt: Date;
}
