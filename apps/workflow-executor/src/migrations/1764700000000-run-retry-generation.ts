import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How many times each run was retried by an operator (POST /runs/<id>/retry): part of the idempotency keys of the
 * attempts made after a retry (docs/workflow-engine.md, "Cancel, retry, signals"). Every run there is gets 0, the
 * generation whose keys are the ones it has always had, so a run in flight at the upgrade keeps its keys.
 */
export class RunRetryGeneration1764700000000 implements MigrationInterface {
  name = 'RunRetryGeneration1764700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_runs" ADD COLUMN "retry_generation" int NOT NULL DEFAULT 0`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_runs" DROP COLUMN "retry_generation"`);
  }
}
