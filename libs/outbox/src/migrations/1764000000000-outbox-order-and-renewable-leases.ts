import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Claim order, ordering keys and renewable leases (docs/ARCHITECTURE.md, "Fire-and-forget without loss"):
 * - `seq`: the enqueue order. Rows are claimed by it (created_at is the transaction's start, equal for every
 *   row of one transaction and not the commit order).
 * - `ordering_key`: rows with the same key are delivered one at a time in `seq` order.
 * - `lease_token`: the claim that holds the row. The relay renews `locked_until` while it works, so the token,
 *   not the expiry, proves ownership when the outcome is recorded.
 * The pending-only indexes stay small however many delivered rows the table keeps.
 */
export class OutboxOrderAndRenewableLeases1764000000000 implements MigrationInterface {
  name = 'OutboxOrderAndRenewableLeases1764000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE SEQUENCE "outbox_seq_seq" AS bigint`);
    await queryRunner.query(`ALTER TABLE "outbox" ADD COLUMN "seq" bigint`);
    // Rows already there keep their creation order.
    await queryRunner.query(`
      UPDATE "outbox" o SET "seq" = n.seq
      FROM (SELECT "id", nextval('outbox_seq_seq') AS seq FROM (SELECT "id" FROM "outbox" ORDER BY "created_at", "id") ordered) n
      WHERE o."id" = n."id"`);
    await queryRunner.query(`ALTER TABLE "outbox" ALTER COLUMN "seq" SET DEFAULT nextval('outbox_seq_seq')`);
    await queryRunner.query(`ALTER TABLE "outbox" ALTER COLUMN "seq" SET NOT NULL`);
    await queryRunner.query(`ALTER SEQUENCE "outbox_seq_seq" OWNED BY "outbox"."seq"`);
    await queryRunner.query(`ALTER TABLE "outbox" ADD COLUMN "ordering_key" varchar(255) NULL`);
    await queryRunner.query(`ALTER TABLE "outbox" ADD COLUMN "lease_token" uuid NULL`);
    await queryRunner.query(`DROP INDEX "IDX_outbox_status_next_attempt_at"`);
    await queryRunner.query(`CREATE INDEX "IDX_outbox_pending_seq" ON "outbox" ("seq") WHERE "status" = 'pending'`);
    await queryRunner.query(
      `CREATE INDEX "IDX_outbox_pending_ordering_key" ON "outbox" ("ordering_key", "seq") WHERE "status" = 'pending' AND "ordering_key" IS NOT NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_outbox_pending_ordering_key"`);
    await queryRunner.query(`DROP INDEX "IDX_outbox_pending_seq"`);
    await queryRunner.query(`CREATE INDEX "IDX_outbox_status_next_attempt_at" ON "outbox" ("status", "next_attempt_at")`);
    await queryRunner.query(`ALTER TABLE "outbox" DROP COLUMN "lease_token"`);
    await queryRunner.query(`ALTER TABLE "outbox" DROP COLUMN "ordering_key"`);
    await queryRunner.query(`ALTER TABLE "outbox" DROP COLUMN "seq"`);
  }
}
