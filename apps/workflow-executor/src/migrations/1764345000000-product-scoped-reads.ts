import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reads apply the caller's product scope (T9): captured messages record the product of the workflow that
 * produced them (NULL for rows captured before, which only unrestricted readers see), and both listings
 * can filter by product without a scan.
 */
export class ProductScopedReads1764345000000 implements MigrationInterface {
  name = 'ProductScopedReads1764345000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "captured_messages" ADD COLUMN "product" varchar(128) NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_captured_messages_product_created_at" ON "captured_messages" ("product", "created_at")`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_product_created_at" ON "tasks" ("product", "created_at")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_tasks_product_created_at"`);
    await queryRunner.query(`DROP INDEX "IDX_captured_messages_product_created_at"`);
    await queryRunner.query(`ALTER TABLE "captured_messages" DROP COLUMN "product"`);
  }
}
