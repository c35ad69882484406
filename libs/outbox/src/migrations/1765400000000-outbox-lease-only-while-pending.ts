import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Only a pending row holds a lease (docs/ARCHITECTURE.md, "Lease statements find rows by id").
 *
 * Every statement that takes a row out of `pending` (settle, bury) clears its lease, and the claim leases only pending
 * rows; the constraint makes the database keep that. The relay's statements on leased rows (renew, release, settle)
 * then match on (id, lease_token) alone and are planned as primary-key lookups. With `status = 'pending'` in them the
 * planner took the pending index instead (a partial index with that very predicate), walking every pending row and
 * every entry a settled row left there until vacuum: 5.7 ms a settle in Core under a backlog, 1.7 ms by primary key in
 * the same bench.
 *
 * Added NOT VALID and then validated, so a large outbox is checked without blocking writes.
 */
export class OutboxLeaseOnlyWhilePending1765400000000 implements MigrationInterface {
  name = 'OutboxLeaseOnlyWhilePending1765400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "outbox" ADD CONSTRAINT "CHK_outbox_lease_only_while_pending" CHECK ("lease_token" IS NULL OR "status" = 'pending') NOT VALID`,
    );
    await queryRunner.query(`ALTER TABLE "outbox" VALIDATE CONSTRAINT "CHK_outbox_lease_only_while_pending"`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outbox" DROP CONSTRAINT "CHK_outbox_lease_only_while_pending"`);
  }
}
