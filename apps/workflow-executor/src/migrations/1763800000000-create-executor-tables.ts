import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateExecutorTables1763800000000 implements MigrationInterface {
  name = 'CreateExecutorTables1763800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "executions" (
        "id"           uuid         NOT NULL DEFAULT gen_random_uuid(),
        "trace_id"     varchar(128) NOT NULL,
        "status"       varchar(16)  NOT NULL,
        "action_type"  varchar(64)  NULL,
        "request"      jsonb        NOT NULL,
        "result"       jsonb        NULL,
        "started_at"   timestamptz  NOT NULL DEFAULT now(),
        "completed_at" timestamptz  NULL,
        "created_at"   timestamptz  NOT NULL DEFAULT now(),
        "updated_at"   timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_executions" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_executions_trace_id" UNIQUE ("trace_id"),
        CONSTRAINT "CHK_executions_status" CHECK ("status" IN ('running', 'success', 'failed')),
        CONSTRAINT "CHK_executions_result" CHECK (("status" = 'running') = ("result" IS NULL))
      )`);
    await queryRunner.query(`
      CREATE TABLE "tasks" (
        "id"          uuid         NOT NULL,
        "user_id"     varchar(255) NULL,
        "title"       text         NOT NULL,
        "description" text         NULL,
        "status"      varchar(32)  NOT NULL DEFAULT 'CREATED',
        "trace_id"    varchar(128) NOT NULL,
        "product"     varchar(255) NULL,
        "created_at"  timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_tasks" PRIMARY KEY ("id")
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_user_id_created_at" ON "tasks" ("user_id", "created_at")`);
    await queryRunner.query(`
      CREATE TABLE "captured_messages" (
        "id"         uuid         NOT NULL,
        "channel"    varchar(16)  NOT NULL,
        "recipient"  text         NOT NULL,
        "subject"    text         NULL,
        "body"       text         NOT NULL,
        "trace_id"   varchar(128) NOT NULL,
        "created_at" timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_captured_messages" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_captured_messages_channel" CHECK ("channel" IN ('email', 'whatsapp'))
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_captured_messages_created_at" ON "captured_messages" ("created_at")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "captured_messages"`);
    await queryRunner.query(`DROP TABLE "tasks"`);
    await queryRunner.query(`DROP TABLE "executions"`);
  }
}
