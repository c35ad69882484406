import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event router (apps/core/src/events): every event received with its decision trail (idempotent on the
 * publisher's id), the filter state of each trigger and key (locked per row, so replicas serialise one key's
 * events), and the starts the router will make later (rate_limit delay, debounce).
 */
export class CreateEvents1764500000000 implements MigrationInterface {
  name = 'CreateEvents1764500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "events" (
        "event_id"     varchar(128) NOT NULL,
        "type"         varchar(128) NOT NULL,
        "source"       varchar(512) NULL,
        "subject"      varchar(255) NULL,
        "time"         timestamptz  NOT NULL,
        "received_at"  timestamptz  NOT NULL DEFAULT clock_timestamp(),
        "trace_id"     varchar(32)  NOT NULL,
        "publisher"    varchar(64)  NOT NULL,
        "data"         jsonb        NOT NULL,
        "decisions"    jsonb        NOT NULL DEFAULT '[]',
        CONSTRAINT "PK_events" PRIMARY KEY ("event_id")
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_events_received" ON "events" ("received_at", "event_id")`);
    await queryRunner.query(`CREATE INDEX "IDX_events_type_received" ON "events" ("type", "received_at", "event_id")`);
    await queryRunner.query(`
      CREATE TABLE "event_filter_state" (
        "workflow"    varchar(64)  NOT NULL,
        "trigger"     varchar(200) NOT NULL,
        "key"         text         NOT NULL,
        "state"       jsonb        NOT NULL,
        "updated_at"  timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_event_filter_state" PRIMARY KEY ("workflow", "trigger", "key")
      )`);
    await queryRunner.query(`
      CREATE TABLE "event_deferred_starts" (
        "id"           uuid         NOT NULL,
        "event_id"     varchar(128) NOT NULL,
        "workflow"     varchar(64)  NOT NULL,
        "trigger"      varchar(200) NOT NULL,
        "key"          text         NOT NULL,
        "reason"       varchar(32)  NOT NULL,
        "due_at"       timestamptz  NOT NULL,
        "inputs"       jsonb        NOT NULL,
        "user_id"      varchar(128) NOT NULL,
        "product"      varchar(128) NULL,
        "trace_id"     varchar(32)  NOT NULL,
        "publisher"    varchar(64)  NOT NULL,
        "debounce_slot" text        NULL,
        "created_at"   timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_event_deferred_starts" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_event_deferred_starts_debounce" UNIQUE ("debounce_slot")
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_event_deferred_starts_due" ON "event_deferred_starts" ("due_at")`);
    // A run an event started says so: `event:<event id>`, and an event id may be 128 characters long.
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" ALTER COLUMN "source" TYPE varchar(160)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" ALTER COLUMN "source" TYPE varchar(64) USING left("source", 64)`);
    await queryRunner.query(`DROP TABLE "event_deferred_starts"`);
    await queryRunner.query(`DROP TABLE "event_filter_state"`);
    await queryRunner.query(`DROP TABLE "events"`);
  }
}
