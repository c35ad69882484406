import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateOutbox1763700000000 implements MigrationInterface {
  name = 'CreateOutbox1763700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "outbox" (
        "id"              uuid         NOT NULL,
        "topic"           varchar(255) NOT NULL,
        "message_key"     varchar(255) NOT NULL,
        "payload"         jsonb        NOT NULL,
        "headers"         jsonb        NOT NULL DEFAULT '{}'::jsonb,
        "status"          varchar(16)  NOT NULL DEFAULT 'pending',
        "attempts"        integer      NOT NULL DEFAULT 0,
        "next_attempt_at" timestamptz  NOT NULL DEFAULT now(),
        "locked_until"    timestamptz  NULL,
        "last_error"      text         NULL,
        "created_at"      timestamptz  NOT NULL DEFAULT now(),
        "delivered_at"    timestamptz  NULL,
        CONSTRAINT "PK_outbox" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_outbox_topic_message_key" UNIQUE ("topic", "message_key"),
        CONSTRAINT "CHK_outbox_status" CHECK ("status" IN ('pending', 'delivered', 'dead')),
        CONSTRAINT "CHK_outbox_attempts" CHECK ("attempts" >= 0)
      )`);
    await queryRunner.query(
      `CREATE INDEX "IDX_outbox_status_next_attempt_at" ON "outbox" ("status", "next_attempt_at")`,
    );
    await queryRunner.query(`
      CREATE TABLE "outbox_dead_letter" (
        "id"          uuid         NOT NULL,
        "topic"       varchar(255) NOT NULL,
        "message_key" varchar(255) NOT NULL,
        "payload"     jsonb        NOT NULL,
        "headers"     jsonb        NOT NULL,
        "attempts"    integer      NOT NULL,
        "reason"      text         NOT NULL,
        "failed_at"   timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_outbox_dead_letter" PRIMARY KEY ("id")
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "outbox_dead_letter"`);
    await queryRunner.query(`DROP INDEX "IDX_outbox_status_next_attempt_at"`);
    await queryRunner.query(`DROP TABLE "outbox"`);
  }
}
