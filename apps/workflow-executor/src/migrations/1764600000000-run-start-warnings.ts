import type { MigrationInterface, QueryRunner } from 'typeorm';

/** What the start of a run was warned of (a deprecated version, inputs migrated from an older major): WORKFLOWS.md records it. */
export class RunStartWarnings1764600000000 implements MigrationInterface {
  name = 'RunStartWarnings1764600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_runs" ADD COLUMN "warnings" jsonb`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_runs" DROP COLUMN "warnings"`);
  }
}
