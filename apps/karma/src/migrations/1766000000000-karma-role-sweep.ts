import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What Karma's scheduled role sweep (KarmaRoleSweep) needs in karma_published_role, so that a role time moves is
 * published when it moves rather than at the user's next event:
 * - `next_time_change_at`: no earlier than this moment can the user's role, derived from the ledger, differ from the
 *   last published one (null: time alone never makes it differ). Each write of the row sets it; the sweep takes the
 *   due rows through the partial index, never folding the ledger of a user who is not due.
 * - `unpublished_event_seq`: the event that moved the role while router events were off (nothing published), so the
 *   change held back is published later with cause `event`.
 * - a row may now exist with nothing published yet (`role`, `ledger_seq`, `published_at` all null): a user with no
 *   published change whose role time can move (a penalty that expires) needs a row for the sweep to find.
 *
 * Backfill: every existing row, and a new one for every user with a token entry in the ledger and no row, is due at
 * once (the epoch): the first sweep rounds derive each user's role once, publish what time moved before the upgrade
 * (nobody had published it), and store the next moment to look. The upgrade itself publishes nothing.
 */
export class KarmaRoleSweep1766000000000 implements MigrationInterface {
  name = 'KarmaRoleSweep1766000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE "karma_published_role"
        ALTER COLUMN "role" DROP NOT NULL,
        ALTER COLUMN "ledger_seq" DROP NOT NULL,
        ALTER COLUMN "published_at" DROP NOT NULL,
        ADD COLUMN "next_time_change_at" timestamptz NULL,
        ADD COLUMN "unpublished_event_seq" bigint NULL,
        ADD CONSTRAINT "CHK_karma_published_role_published" CHECK (("role" IS NULL) = ("ledger_seq" IS NULL) AND ("role" IS NULL) = ("published_at" IS NULL))`);
    await queryRunner.query(`UPDATE "karma_published_role" SET "next_time_change_at" = to_timestamp(0)`);
    await queryRunner.query(`
      INSERT INTO "karma_published_role" ("user_id", "next_time_change_at")
      SELECT DISTINCT "user_id", to_timestamp(0) FROM "karma_ledger"
      WHERE "kind" = 'action' AND "token" IS NOT NULL AND "amount" <> 0
      ON CONFLICT ("user_id") DO NOTHING`);
    await queryRunner.query(`
      CREATE INDEX "IDX_karma_published_role_next_time_change" ON "karma_published_role" ("next_time_change_at")
      WHERE "next_time_change_at" IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_karma_published_role_next_time_change"`);
    await queryRunner.query(`DELETE FROM "karma_published_role" WHERE "role" IS NULL`);
    await queryRunner.query(`
      ALTER TABLE "karma_published_role"
        DROP CONSTRAINT "CHK_karma_published_role_published",
        DROP COLUMN "unpublished_event_seq",
        DROP COLUMN "next_time_change_at",
        ALTER COLUMN "role" SET NOT NULL,
        ALTER COLUMN "ledger_seq" SET NOT NULL,
        ALTER COLUMN "published_at" SET NOT NULL`);
  }
}
