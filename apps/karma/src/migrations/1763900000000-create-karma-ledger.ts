import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateKarmaLedger1763900000000 implements MigrationInterface {
  name = 'CreateKarmaLedger1763900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "karma_event" (
        "event_id"    uuid         NOT NULL,
        "type"        varchar(32)  NOT NULL,
        "user_id"     varchar(128) NOT NULL,
        "fingerprint" char(64)     NOT NULL,
        "source"      varchar(128) NULL,
        "occurred_at" timestamptz  NOT NULL,
        "recorded_at" timestamptz  NOT NULL,
        "reply"       jsonb        NOT NULL,
        CONSTRAINT "PK_karma_event" PRIMARY KEY ("event_id"),
        CONSTRAINT "CHK_karma_event_type" CHECK ("type" IN ('life_event', 'atonement', 'appeal', 'death_event', 'stats_request'))
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_karma_event_user_recorded" ON "karma_event" ("user_id", "recorded_at")`);
    // The event row is written after its ledger entries (its reply quotes their seq): the check waits for commit.
    await queryRunner.query(`
      CREATE TABLE "karma_ledger" (
        "seq"          bigserial        NOT NULL,
        "event_id"     uuid             NOT NULL,
        "user_id"      varchar(128)     NOT NULL,
        "kind"         varchar(16)      NOT NULL,
        "action"       varchar(64)      NULL,
        "token"        varchar(64)      NULL,
        "amount"       double precision NOT NULL,
        "paap_class"   varchar(32)      NULL,
        "ref_seq"      bigint           NULL,
        "details"      jsonb            NOT NULL DEFAULT '{}',
        "effective_at" timestamptz      NOT NULL,
        "occurred_at"  timestamptz      NOT NULL,
        CONSTRAINT "PK_karma_ledger" PRIMARY KEY ("seq"),
        CONSTRAINT "FK_karma_ledger_event" FOREIGN KEY ("event_id") REFERENCES "karma_event" ("event_id") DEFERRABLE INITIALLY DEFERRED,
        CONSTRAINT "FK_karma_ledger_ref" FOREIGN KEY ("ref_seq") REFERENCES "karma_ledger" ("seq"),
        CONSTRAINT "CHK_karma_ledger_kind" CHECK ("kind" IN ('action', 'paap', 'atonement', 'appeal', 'death')),
        CONSTRAINT "CHK_karma_ledger_amount" CHECK ("amount" > '-Infinity' AND "amount" < 'Infinity')
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_karma_ledger_user_seq" ON "karma_ledger" ("user_id", "seq")`);
    await queryRunner.query(`CREATE INDEX "IDX_karma_ledger_event" ON "karma_ledger" ("event_id")`);
    // Append-only in the database itself: history is corrected by new entries (atonement), never by edits.
    await queryRunner.query(`
      CREATE FUNCTION "karma_ledger_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'karma_ledger is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER "TRG_karma_ledger_no_change" BEFORE UPDATE OR DELETE ON "karma_ledger"
      FOR EACH ROW EXECUTE FUNCTION "karma_ledger_append_only"()`);
    await queryRunner.query(`
      CREATE TRIGGER "TRG_karma_ledger_no_truncate" BEFORE TRUNCATE ON "karma_ledger"
      FOR EACH STATEMENT EXECUTE FUNCTION "karma_ledger_append_only"()`);
    await queryRunner.query(`
      CREATE TABLE "karma_q_value" (
        "role"       varchar(64)      NOT NULL,
        "action"     varchar(64)      NOT NULL,
        "value"      double precision NOT NULL,
        "updates"    integer          NOT NULL,
        "updated_at" timestamptz      NOT NULL,
        CONSTRAINT "PK_karma_q_value" PRIMARY KEY ("role", "action")
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "karma_q_value"`);
    await queryRunner.query(`DROP TRIGGER "TRG_karma_ledger_no_truncate" ON "karma_ledger"`);
    await queryRunner.query(`DROP TRIGGER "TRG_karma_ledger_no_change" ON "karma_ledger"`);
    await queryRunner.query(`DROP FUNCTION "karma_ledger_append_only"()`);
    await queryRunner.query(`DROP TABLE "karma_ledger"`);
    await queryRunner.query(`DROP TABLE "karma_event"`);
  }
}
