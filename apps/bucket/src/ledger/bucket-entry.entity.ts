import { Column, Entity, Index, PrimaryColumn, Unique } from 'typeorm';
import type { BucketChannel } from '@pancha/contracts';

/** TypeORM returns bigint as text; seq stays far below 2^53. */
const bigintAsNumber = {
  to: (value: number) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};

/**
 * One entry of the chain. The schema (constraints, append-only triggers) is owned by
 * CreateBucketEntries1763710000000; this mapping mirrors it. Rows are only ever written by
 * LedgerService (under the chain lock) and read with created_at rendered by LEDGER_TIMESTAMP_SQL,
 * because the hash covers the microsecond text form that a JS Date would truncate.
 */
@Entity({ name: 'bucket_entries' })
@Unique('UQ_bucket_entries_event_id', ['eventId'])
@Index('IDX_bucket_entries_trace_id', ['traceId'])
@Index('IDX_bucket_entries_product_seq', ['product', 'seq'])
@Index('IDX_bucket_entries_user_id_seq', ['userId', 'seq'])
export class BucketEntryEntity {
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber })
  seq: number;

  @Column({ name: 'event_id', type: 'uuid' })
  eventId: string;

  @Column({ name: 'requester_id', type: 'varchar', length: 64 })
  requesterId: string;

  @Column({ type: 'varchar', length: 16 })
  channel: BucketChannel;

  @Column({ name: 'event_type', type: 'varchar', length: 128 })
  eventType: string;

  @Column({ name: 'trace_id', type: 'varchar', length: 128, nullable: true })
  traceId: string | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  product: string | null;

  @Column({ name: 'user_id', type: 'varchar', length: 255, nullable: true })
  userId: string | null;

  @Column({ name: 'event_data', type: 'jsonb' })
  eventData: Record<string, unknown>;

  @Column({ name: 'content_hash', type: 'varchar', length: 64 })
  contentHash: string;

  @Column({ name: 'prev_hash', type: 'varchar', length: 64 })
  prevHash: string;

  @Column({ type: 'varchar', length: 64 })
  hash: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
