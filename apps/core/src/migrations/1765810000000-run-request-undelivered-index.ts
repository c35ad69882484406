import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * GET /runs merges the runs only Core has (a start still queued, refused, or cancelled before the executor got it)
 * with the executor's, newest first: a small partial index keeps that read from walking every delivered request.
 */
export class RunRequestUndeliveredIndex1765810000000 implements MigrationInterface {
  name = 'RunRequestUndeliveredIndex1765810000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "IDX_workflow_run_requests_undelivered" ON "workflow_run_requests" ("created_at" DESC, "run_id" DESC) WHERE "delivery" <> 'delivered'`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_workflow_run_requests_undelivered"`);
  }
}
