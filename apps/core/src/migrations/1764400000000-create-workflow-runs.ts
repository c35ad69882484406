import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Core's side of workflow runs: every run Core accepted (so the start survives an executor outage and GET /runs
 * can say "queued" before the executor knows the run), and the last catalog mirrored from the executor's registry
 * (so Core can accept or refuse starts while the executor is down).
 */
export class CreateWorkflowRuns1764400000000 implements MigrationInterface {
  name = 'CreateWorkflowRuns1764400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "workflow_run_requests" (
        "run_id"      uuid         NOT NULL,
        "workflow"    varchar(64)  NOT NULL,
        "version"     varchar(64)  NOT NULL,
        "inputs"      jsonb        NOT NULL,
        "user_id"     varchar(128) NOT NULL,
        "product"     varchar(128) NULL,
        "trace_id"    varchar(32)  NOT NULL,
        "actor"       varchar(160) NOT NULL,
        "source"      varchar(64)  NOT NULL,
        "delivery"    varchar(16)  NOT NULL DEFAULT 'queued',
        "reason"      text         NULL,
        "created_at"  timestamptz  NOT NULL DEFAULT now(),
        "updated_at"  timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_workflow_run_requests" PRIMARY KEY ("run_id"),
        CONSTRAINT "CHK_workflow_run_requests_delivery" CHECK ("delivery" IN ('queued', 'delivered', 'refused'))
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_run_requests_created" ON "workflow_run_requests" ("created_at")`);
    await queryRunner.query(`
      CREATE TABLE "workflow_catalog_cache" (
        "id"         smallint     NOT NULL,
        "etag"       text         NULL,
        "catalog"    jsonb        NOT NULL,
        "fetched_at" timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_workflow_catalog_cache" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_workflow_catalog_cache_single" CHECK ("id" = 1)
      )`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD COLUMN "run_id" uuid NULL`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD COLUMN "workflow" varchar(64) NULL`);
    // A workflow decision is now either one action (action_type) or a versioned workflow run (workflow).
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "CHK_tasks_workflow_action"`);
    await queryRunner.query(
      `ALTER TABLE "tasks" ADD CONSTRAINT "CHK_tasks_workflow_action" CHECK (("decision" = 'workflow') = ("action_type" IS NOT NULL OR "workflow" IS NOT NULL))`,
    );
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "CHK_tasks_status"`);
    await queryRunner.query(
      `ALTER TABLE "tasks" ADD CONSTRAINT "CHK_tasks_status" CHECK ("status" IN ('decided', 'dispatching', 'dispatched_success',
        'dispatched_failed', 'dispatch_skipped', 'dispatch_dead', 'run_started', 'run_refused'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "CHK_tasks_status"`);
    await queryRunner.query(
      `ALTER TABLE "tasks" ADD CONSTRAINT "CHK_tasks_status" CHECK ("status" IN ('decided', 'dispatching', 'dispatched_success',
        'dispatched_failed', 'dispatch_skipped', 'dispatch_dead'))`,
    );
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "CHK_tasks_workflow_action"`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD CONSTRAINT "CHK_tasks_workflow_action" CHECK (("decision" = 'workflow') = ("action_type" IS NOT NULL))`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "workflow"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "run_id"`);
    await queryRunner.query(`DROP TABLE "workflow_catalog_cache"`);
    await queryRunner.query(`DROP TABLE "workflow_run_requests"`);
  }
}
