import type { MigrationInterface, QueryRunner } from 'typeorm';

/** GET /runs?updated_since=: the change feed PRANA's live stream reads, oldest change first. */
export class RunsChangeFeed1764500000000 implements MigrationInterface {
  name = 'RunsChangeFeed1764500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_workflow_runs_updated" ON "workflow_runs" ("updated_at", "run_id")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_workflow_runs_updated"`);
  }
}
