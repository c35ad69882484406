import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One cell of the shared Q-table (role × action); a missing cell is 0. */
@Entity({ name: 'karma_q_value' })
export class QValueEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  role: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  action: string;

  @Column({ type: 'double precision' })
  value: number;

  @Column({ type: 'integer' })
  updates: number;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
