import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The chain table, append-only in the database itself: statement-level triggers refuse UPDATE,
 * DELETE and TRUNCATE for every role including the owner (only a superuser or owner disabling the
 * triggers gets past, and the hash chain then shows what was changed). An insert guard keeps seq
 * contiguous and prev_hash linked even if a writer forgot the chain lock.
 */
export class CreateBucketEntries1763710000000 implements MigrationInterface {
  name = 'CreateBucketEntries1763710000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "bucket_entries" (
        "seq"          bigint       NOT NULL,
        "event_id"     uuid         NOT NULL,
        "requester_id" varchar(64)  NOT NULL,
        "channel"      varchar(16)  NOT NULL,
        "event_type"   varchar(128) NOT NULL,
        "trace_id"     varchar(128) NULL,
        "product"      varchar(128) NULL,
        "user_id"      varchar(255) NULL,
        "event_data"   jsonb        NOT NULL,
        "content_hash" varchar(64)  NOT NULL,
        "prev_hash"    varchar(64)  NOT NULL,
        "hash"         varchar(64)  NOT NULL,
        "created_at"   timestamptz  NOT NULL,
        CONSTRAINT "PK_bucket_entries" PRIMARY KEY ("seq"),
        CONSTRAINT "UQ_bucket_entries_event_id" UNIQUE ("event_id"),
        CONSTRAINT "CHK_bucket_entries_seq" CHECK ("seq" >= 1),
        CONSTRAINT "CHK_bucket_entries_channel" CHECK ("channel" IN ('core', 'workflow', 'prana')),
        CONSTRAINT "CHK_bucket_entries_hashes" CHECK (
          "hash" ~ '^[0-9a-f]{64}$' AND "prev_hash" ~ '^[0-9a-f]{64}$' AND "content_hash" ~ '^[0-9a-f]{64}$'
        ),
        CONSTRAINT "CHK_bucket_entries_event_data" CHECK (jsonb_typeof("event_data") = 'object')
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_bucket_entries_trace_id" ON "bucket_entries" ("trace_id")`);
    await queryRunner.query(`CREATE INDEX "IDX_bucket_entries_product_seq" ON "bucket_entries" ("product", "seq")`);
    await queryRunner.query(`CREATE INDEX "IDX_bucket_entries_user_id_seq" ON "bucket_entries" ("user_id", "seq")`);
    await queryRunner.query(
      `CREATE INDEX "IDX_bucket_entries_agent_id_seq" ON "bucket_entries" (("event_data" ->> 'agent_id'), "seq")`,
    );

    await queryRunner.query(`
      CREATE FUNCTION "bucket_entries_refuse_change"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'bucket_entries is append-only: % refused', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    // Statement level, so even an UPDATE/DELETE that matches no row is refused, and TRUNCATE is covered.
    await queryRunner.query(`
      CREATE TRIGGER "bucket_entries_append_only"
        BEFORE UPDATE OR DELETE OR TRUNCATE ON "bucket_entries"
        FOR EACH STATEMENT EXECUTE FUNCTION "bucket_entries_refuse_change"()`);

    await queryRunner.query(`
      CREATE FUNCTION "bucket_entries_guard_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        head_seq  bigint;
        head_hash varchar(64);
      BEGIN
        SELECT "seq", "hash" INTO head_seq, head_hash FROM "bucket_entries" ORDER BY "seq" DESC LIMIT 1;
        IF NEW."seq" <> COALESCE(head_seq, 0) + 1 THEN
          RAISE EXCEPTION 'bucket_entries seq must follow the head: got %, head is %', NEW."seq", COALESCE(head_seq, 0)
            USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW."prev_hash" <> COALESCE(head_hash, repeat('0', 64)) THEN
          RAISE EXCEPTION 'bucket_entries prev_hash must be the head hash (seq %)', NEW."seq"
            USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW."created_at" > clock_timestamp() THEN
          RAISE EXCEPTION 'bucket_entries created_at is in the future (seq %)', NEW."seq"
            USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
      END
      $$`);
    await queryRunner.query(`
      CREATE TRIGGER "bucket_entries_insert_guard"
        BEFORE INSERT ON "bucket_entries"
        FOR EACH ROW EXECUTE FUNCTION "bucket_entries_guard_insert"()`);

    await queryRunner.query(`REVOKE UPDATE, DELETE, TRUNCATE ON "bucket_entries" FROM PUBLIC`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // DROP TABLE takes the triggers with it; it is not a TRUNCATE, so the guard does not fire.
    await queryRunner.query(`DROP TABLE "bucket_entries"`);
    await queryRunner.query(`DROP FUNCTION "bucket_entries_guard_insert"()`);
    await queryRunner.query(`DROP FUNCTION "bucket_entries_refuse_change"()`);
  }
}
