import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An event's place in a chain of runs started by one another's workflow events (docs/events.md, "Chains"): 0 for an
 * event no event-started run published, else its run's starting event's depth + 1. Rows stored before keep 0.
 */
export class EventChainDepth1765800000000 implements MigrationInterface {
  name = 'EventChainDepth1765800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "events" ADD COLUMN "chain_depth" integer NOT NULL DEFAULT 0`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "events" DROP COLUMN "chain_depth"`);
  }
}
