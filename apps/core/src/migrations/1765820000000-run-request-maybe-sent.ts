import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Whether a delivery of a run request's start may have reached the executor and been stored there (an attempt that
 * timed out, was reset, or got a 5xx), as against refused connections only. A cancel withdraws a start only while
 * this is false (then the run can never start); the relay's dead letter for used-up attempts trusts the executor's
 * "no such run" only then, or after an attempt the executor answered. Set only on a failed delivery, so the relay's
 * mark-delivered update stays as it was; not indexed, so its own update is HOT.
 */
export class RunRequestMaybeSent1765820000000 implements MigrationInterface {
  name = 'RunRequestMaybeSent1765820000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" ADD COLUMN "maybe_sent" boolean NOT NULL DEFAULT false`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" DROP COLUMN "maybe_sent"`);
  }
}
