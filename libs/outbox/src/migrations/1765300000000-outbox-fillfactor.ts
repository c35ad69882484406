import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Room on each heap page for a row's next versions (docs/ARCHITECTURE.md, "Outbox pages with room").
 *
 * Every outbox row is updated after its INSERT: the claim writes its lease (locked_until, lease_token), the settle its
 * outcome. With the default fillfactor of 100 the INSERTs fill each page, so the lease's new row version lands on
 * another page and PostgreSQL must add it to every index (primary key, (topic, message_key), the two pending
 * indexes): in a bench only 7 % of Core's outbox updates were heap-only. The lease changes no indexed column, so with
 * room on the page it is a heap-only update that touches no index. Only pages written from now on get the room.
 */
export class OutboxFillfactor1765300000000 implements MigrationInterface {
  name = 'OutboxFillfactor1765300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outbox" SET (fillfactor = 50)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "outbox" RESET (fillfactor)`);
  }
}
