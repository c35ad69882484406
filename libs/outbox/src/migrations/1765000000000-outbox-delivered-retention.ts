import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Delivered rows are kept for OUTBOX_RETENTION_HOURS (they answer "was this sent, when, after how many attempts" and
 * make a repeated enqueue of the same (topic, message_key) a no-op), then OutboxPruner deletes them in small batches.
 * This index is what the pruner reads: delivered rows by delivery time, oldest first, so each batch touches only the
 * rows it deletes however large the table is. Pending and dead rows are never in it (dead rows stay: an operator's).
 */
export class OutboxDeliveredRetention1765000000000 implements MigrationInterface {
  name = 'OutboxDeliveredRetention1765000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_outbox_delivered_at" ON "outbox" ("delivered_at") WHERE "status" = 'delivered'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_outbox_delivered_at"`);
  }
}
