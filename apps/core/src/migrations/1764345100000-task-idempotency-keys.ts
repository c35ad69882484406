import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency-Key of POST /handle_task: one row per (requester, key), written in the transaction that creates
 * the task, holding a hash of the request body and the 202 body to answer a retry with. The primary key decides
 * between concurrent retries. The foreign key is checked at commit, so the key row can go in first.
 */
export class TaskIdempotencyKeys1764345100000 implements MigrationInterface {
  name = 'TaskIdempotencyKeys1764345100000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "task_idempotency_keys" (
        "requester_id"    varchar(64)  NOT NULL,
        "idempotency_key" varchar(255) NOT NULL,
        "request_hash"    char(64)     NOT NULL,
        "task_id"         uuid         NOT NULL,
        "response"        jsonb        NOT NULL,
        "created_at"      timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_task_idempotency_keys" PRIMARY KEY ("requester_id", "idempotency_key"),
        CONSTRAINT "FK_task_idempotency_keys_task" FOREIGN KEY ("task_id") REFERENCES "tasks" ("task_id") DEFERRABLE INITIALLY DEFERRED
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "task_idempotency_keys"`);
  }
}
