import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Workflow definitions (the registry) and durable runs: every run, step and attempt is a row, so a run resumes
 * where it was after any crash. Runs are leased by one worker at a time (lease_token fences its writes).
 */
export class CreateWorkflowTables1764400000000 implements MigrationInterface {
  name = 'CreateWorkflowTables1764400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "workflow_definitions" (
        "name"          varchar(64)  NOT NULL,
        "version"       varchar(64)  NOT NULL,
        "content_hash"  char(64)     NOT NULL,
        "manifest"      jsonb        NOT NULL,
        "source"        text         NOT NULL,
        "file"          text         NULL,
        "registered_at" timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_workflow_definitions" PRIMARY KEY ("name", "version")
      )`);
    await queryRunner.query(`
      CREATE TABLE "workflow_settings" (
        "name"       varchar(64)  NOT NULL,
        "enabled"    boolean      NOT NULL,
        "updated_by" varchar(128) NOT NULL,
        "reason"     text         NULL,
        "updated_at" timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_workflow_settings" PRIMARY KEY ("name")
      )`);
    await queryRunner.query(`
      CREATE TABLE "workflow_runs" (
        "run_id"           uuid         NOT NULL,
        "workflow"         varchar(64)  NOT NULL,
        "version"          varchar(64)  NOT NULL,
        "status"           varchar(16)  NOT NULL,
        "inputs"           jsonb        NOT NULL,
        "output"           jsonb        NULL,
        "error"            jsonb        NULL,
        "user_id"          varchar(128) NULL,
        "product"          varchar(128) NULL,
        "actor"            varchar(128) NULL,
        "trace_id"         varchar(32)  NOT NULL,
        "traceparent"      varchar(64)  NULL,
        "pins"             jsonb        NOT NULL DEFAULT '{}',
        "parent_run_id"    uuid         NULL,
        "parent_step_path" text         NULL,
        "root_run_id"      uuid         NOT NULL,
        "relation"         varchar(16)  NULL,
        "fallback_run_id"  uuid         NULL,
        "cancel_requested" boolean      NOT NULL DEFAULT false,
        "created_at"       timestamptz  NOT NULL DEFAULT now(),
        "started_at"       timestamptz  NULL,
        "completed_at"     timestamptz  NULL,
        "deadline_at"      timestamptz  NULL,
        "updated_at"       timestamptz  NOT NULL DEFAULT now(),
        "next_wake_at"     timestamptz  NULL,
        "wake_version"     int          NOT NULL DEFAULT 0,
        "lease_owner"      varchar(128) NULL,
        "lease_token"      uuid         NULL,
        "lease_until"      timestamptz  NULL,
        CONSTRAINT "PK_workflow_runs" PRIMARY KEY ("run_id"),
        CONSTRAINT "CHK_workflow_runs_status" CHECK ("status" IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out'))
      )`);
    // The claim query: runs due now, not leased (or lease expired). Terminal runs drop out of the index.
    await queryRunner.query(`
      CREATE INDEX "IDX_workflow_runs_due" ON "workflow_runs" ("next_wake_at")
      WHERE "status" IN ('pending', 'running') AND "next_wake_at" IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_runs_workflow" ON "workflow_runs" ("workflow", "version", "created_at")`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_runs_status_created" ON "workflow_runs" ("status", "created_at")`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_runs_created" ON "workflow_runs" ("created_at")`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_runs_trace" ON "workflow_runs" ("trace_id")`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_runs_user" ON "workflow_runs" ("user_id", "created_at")`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_runs_parent" ON "workflow_runs" ("parent_run_id") WHERE "parent_run_id" IS NOT NULL`);
    await queryRunner.query(`
      CREATE TABLE "workflow_steps" (
        "run_id"          uuid         NOT NULL,
        "path"            text         NOT NULL,
        "step_id"         varchar(64)  NOT NULL,
        "kind"            varchar(16)  NOT NULL,
        "status"          varchar(16)  NOT NULL,
        "attempts"        int          NOT NULL DEFAULT 0,
        "interruptions"   int          NOT NULL DEFAULT 0,
        "attempt_base"    int          NOT NULL DEFAULT 0,
        "input"           jsonb        NULL,
        "output"          jsonb        NULL,
        "error"           jsonb        NULL,
        "handled"         boolean      NOT NULL DEFAULT false,
        "decision"        jsonb        NULL,
        "child_run_id"    uuid         NULL,
        "fallback_run_id" uuid         NULL,
        "wake_at"         timestamptz  NULL,
        "started_at"      timestamptz  NULL,
        "completed_at"    timestamptz  NULL,
        "seq"             bigserial    NOT NULL,
        CONSTRAINT "PK_workflow_steps" PRIMARY KEY ("run_id", "path"),
        CONSTRAINT "FK_workflow_steps_run" FOREIGN KEY ("run_id") REFERENCES "workflow_runs" ("run_id") ON DELETE CASCADE,
        CONSTRAINT "CHK_workflow_steps_status" CHECK ("status" IN ('pending', 'running', 'completed', 'failed', 'skipped', 'cancelled'))
      )`);
    await queryRunner.query(`
      CREATE TABLE "workflow_step_attempts" (
        "run_id"          uuid         NOT NULL,
        "path"            text         NOT NULL,
        "attempt"         int          NOT NULL,
        "status"          varchar(16)  NOT NULL,
        "idempotency_key" text         NOT NULL,
        "worker"          varchar(128) NULL,
        "started_at"      timestamptz  NOT NULL,
        "completed_at"    timestamptz  NULL,
        "error"           jsonb        NULL,
        CONSTRAINT "PK_workflow_step_attempts" PRIMARY KEY ("run_id", "path", "attempt"),
        CONSTRAINT "FK_workflow_step_attempts_run" FOREIGN KEY ("run_id") REFERENCES "workflow_runs" ("run_id") ON DELETE CASCADE,
        CONSTRAINT "CHK_workflow_step_attempts_status" CHECK ("status" IN ('running', 'completed', 'failed', 'interrupted', 'cancelled'))
      )`);
    await queryRunner.query(`
      CREATE TABLE "workflow_signals" (
        "id"          uuid         NOT NULL,
        "run_id"      uuid         NOT NULL,
        "name"        varchar(128) NOT NULL,
        "payload"     jsonb        NULL,
        "sender"      varchar(128) NOT NULL,
        "received_at" timestamptz  NOT NULL DEFAULT now(),
        "consumed_by" text         NULL,
        CONSTRAINT "PK_workflow_signals" PRIMARY KEY ("id"),
        CONSTRAINT "FK_workflow_signals_run" FOREIGN KEY ("run_id") REFERENCES "workflow_runs" ("run_id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_signals_run" ON "workflow_signals" ("run_id", "received_at")`);
    // The provider-side half of "an effect happens once": a repeated attempt of a step finds its row already there.
    await queryRunner.query(`ALTER TABLE "tasks" ADD COLUMN "idempotency_key" text NULL`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_tasks_idempotency_key" ON "tasks" ("idempotency_key") WHERE "idempotency_key" IS NOT NULL`);
    await queryRunner.query(`ALTER TABLE "captured_messages" ADD COLUMN "idempotency_key" text NULL`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_captured_messages_idempotency_key" ON "captured_messages" ("idempotency_key") WHERE "idempotency_key" IS NOT NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "captured_messages" DROP COLUMN "idempotency_key"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "idempotency_key"`);
    await queryRunner.query(`DROP TABLE "workflow_signals"`);
    await queryRunner.query(`DROP TABLE "workflow_step_attempts"`);
    await queryRunner.query(`DROP TABLE "workflow_steps"`);
    await queryRunner.query(`DROP TABLE "workflow_runs"`);
    await queryRunner.query(`DROP TABLE "workflow_settings"`);
    await queryRunner.query(`DROP TABLE "workflow_definitions"`);
  }
}
