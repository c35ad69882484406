import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `sweep_claimed_until` on karma_published_role: a role sweep batch (KarmaRoleSweep) claims its due users for a while
 * before it reads and folds their ledgers outside any lock, so that another replica's round takes other users instead
 * of folding the same ones. A claim is a hint, not a lock: every write of the row clears it, a crashed round's claims
 * lapse at that time (PostgreSQL's clock), and what is published is decided under the row lock with a re-check.
 */
export class KarmaRoleSweepClaim1766100000000 implements MigrationInterface {
  name = 'KarmaRoleSweepClaim1766100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "karma_published_role" ADD COLUMN "sweep_claimed_until" timestamptz NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "karma_published_role" DROP COLUMN "sweep_claimed_until"`);
  }
}
