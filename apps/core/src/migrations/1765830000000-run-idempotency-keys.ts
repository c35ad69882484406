import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency-Key of POST /workflows/:name/runs, as task_idempotency_keys is for POST /handle_task: one row per
 * (requester, key), written in the transaction that stores the run request, holding a hash of the request (the
 * workflow and the body) and the 202 body to answer a retry with. The primary key decides between concurrent retries
 * (one run, not two). A new table, so no index is built on a table in use (no CONCURRENTLY needed). The foreign key
 * is checked at commit, so the key row can go in first; a key is kept as long as its run request.
 */
export class RunIdempotencyKeys1765830000000 implements MigrationInterface {
  name = 'RunIdempotencyKeys1765830000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "run_idempotency_keys" (
        "requester_id"    varchar(64)  NOT NULL,
        "idempotency_key" varchar(255) NOT NULL,
        "request_hash"    char(64)     NOT NULL,
        "run_id"          uuid         NOT NULL,
        "response"        jsonb        NOT NULL,
        "created_at"      timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_run_idempotency_keys" PRIMARY KEY ("requester_id", "idempotency_key"),
        CONSTRAINT "FK_run_idempotency_keys_run" FOREIGN KEY ("run_id") REFERENCES "workflow_run_requests" ("run_id")
          ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "run_idempotency_keys"`);
  }
}
