import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A deferred start runs the version whose trigger matched its event (docs/events.md, "Deferred starts"), not the
 * default of the moment it fires. Rows stored before keep NULL and run the default version.
 */
export class DeferredStartVersion1765700000000 implements MigrationInterface {
  name = 'DeferredStartVersion1765700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "event_deferred_starts" ADD COLUMN "version" varchar(64) NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "event_deferred_starts" DROP COLUMN "version"`);
  }
}
