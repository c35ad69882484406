import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a run's start was warned of (a deprecated version, inputs migrated from an older major: the 202's `warnings`),
 * kept with Core's run request, so Core's own answer for a run the executor does not have (queued, refused, cancelled
 * before it got there) and its run list say it as the executor's run view does. jsonb, NULL for none (as the
 * executor's `workflow_runs.warnings`). A nullable column without a default: a catalog change only, no rewrite of the
 * table. Requests stored before it have none recorded (their warnings were sent to the executor only).
 */
export class RunRequestWarnings1765840000000 implements MigrationInterface {
  name = 'RunRequestWarnings1765840000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" ADD COLUMN "warnings" jsonb NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" DROP COLUMN "warnings"`);
  }
}
