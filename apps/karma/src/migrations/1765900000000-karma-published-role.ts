import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * karma_published_role: per user, the role of the last `karma.role_changed` Karma published. An event compares the
 * role the user has when it arrives with it, so a role that moved with time alone (grants expiring, decay) is
 * published before the event's own change, and every change's previous_role is the role of the one before it.
 *
 * Backfill, so the upgrade itself publishes nothing: until now a change was published exactly when a life_event's
 * reply had role_before ≠ role_after, so a user's last published role is the role_after of the latest such reply (by
 * the seq of its first ledger entry). A user with none never had a change published and gets no row (the role of no
 * merit). A change time made before the upgrade and no event reported is published by the user's next event.
 */
export class KarmaPublishedRole1765900000000 implements MigrationInterface {
  name = 'KarmaPublishedRole1765900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "karma_published_role" (
        "user_id"      varchar(128) NOT NULL,
        "role"         varchar(64)  NOT NULL,
        "ledger_seq"   bigint       NOT NULL,
        "published_at" timestamptz  NOT NULL,
        CONSTRAINT "PK_karma_published_role" PRIMARY KEY ("user_id")
      )`);
    await queryRunner.query(`
      INSERT INTO "karma_published_role" ("user_id", "role", "ledger_seq", "published_at")
      SELECT DISTINCT ON (e."user_id") e."user_id", e."reply"->'data'->>'role_after', l."seq", e."recorded_at"
      FROM "karma_event" e
      CROSS JOIN LATERAL (SELECT min("seq") AS "seq" FROM "karma_ledger" WHERE "event_id" = e."event_id") l
      WHERE e."type" = 'life_event'
        AND l."seq" IS NOT NULL
        AND e."reply"->'data'->>'role_after' IS NOT NULL
        AND e."reply"->'data'->>'role_before' IS NOT NULL
        AND e."reply"->'data'->>'role_before' <> e."reply"->'data'->>'role_after'
      ORDER BY e."user_id", l."seq" DESC`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "karma_published_role"`);
  }
}
