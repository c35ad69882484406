import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateTasks1763800000000 implements MigrationInterface {
  name = 'CreateTasks1763800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "tasks" (
        "task_id"          uuid         NOT NULL,
        "trace_id"         varchar(32)  NOT NULL,
        "user_id"          varchar(255) NOT NULL,
        "product"          varchar(255) NULL,
        "agent"            varchar(255) NULL,
        "input"            text         NOT NULL,
        "input_type"       varchar(64)  NULL,
        "tags"             jsonb        NOT NULL DEFAULT '[]'::jsonb,
        "decision"         varchar(16)  NOT NULL,
        "action_type"      varchar(32)  NULL,
        "payload"          jsonb        NULL,
        "decided_by"       varchar(128) NOT NULL,
        "agent_note"       text         NULL,
        "status"           varchar(32)  NOT NULL,
        "execution_result" jsonb        NULL,
        "created_at"       timestamptz  NOT NULL DEFAULT now(),
        "updated_at"       timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_tasks" PRIMARY KEY ("task_id"),
        CONSTRAINT "CHK_tasks_decision" CHECK ("decision" IN ('respond', 'task', 'workflow', 'insight', 'fallback')),
        CONSTRAINT "CHK_tasks_status" CHECK ("status" IN
          ('decided', 'dispatching', 'dispatched_success', 'dispatched_failed', 'dispatch_skipped', 'dispatch_dead')),
        CONSTRAINT "CHK_tasks_workflow_action" CHECK (("decision" = 'workflow') = ("action_type" IS NOT NULL))
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_tasks_trace_id" ON "tasks" ("trace_id")`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_user_id_created_at" ON "tasks" ("user_id", "created_at")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_tasks_user_id_created_at"`);
    await queryRunner.query(`DROP INDEX "UQ_tasks_trace_id"`);
    await queryRunner.query(`DROP TABLE "tasks"`);
  }
}
