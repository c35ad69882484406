import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * GET /runs merges the runs that ended in Core without reaching the executor (refused, or cancelled before it got
 * there) with the executor's, newest first. Exactly those run requests hold a `reason` (the two updates that end them
 * set it; a start and its delivery never do), so the partial index is on that: an index that named `delivery` would
 * make the relay's mark-delivered update (every start) a non-HOT update, writing every index of the table again.
 */
export class RunRequestEndedIndex1765810000000 implements MigrationInterface {
  name = 'RunRequestEndedIndex1765810000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "IDX_workflow_run_requests_ended" ON "workflow_run_requests" ("created_at" DESC, "run_id" DESC) WHERE "reason" IS NOT NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_workflow_run_requests_ended"`);
  }
}
