import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * karma_event.reply keeps the first reply's JSON text as it was sent (type json), so a replay answers it byte for
 * byte: jsonb re-orders members (shorter keys first), and a replay read from it had the members of the first reply
 * in another order. Replies stored before this migration keep jsonb's order (theirs is lost).
 */
export class KarmaEventReplyAsSent1765400000000 implements MigrationInterface {
  name = 'KarmaEventReplyAsSent1765400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "karma_event" ALTER COLUMN "reply" TYPE json USING "reply"::json`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "karma_event" ALTER COLUMN "reply" TYPE jsonb USING "reply"::jsonb`);
  }
}
