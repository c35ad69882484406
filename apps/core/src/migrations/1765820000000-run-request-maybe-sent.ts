import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How many times the relay sent a run request's start (`start_sends`, counted before each send, so a send whose outcome
 * is lost to a crash or a lapsed lease still counts) and how many of those found the executor's connection refused
 * (`start_refusals`: the request never left). A start with more sends than refusals may be at the executor: a cancel
 * cannot withdraw it, and its dead letter asks the executor first. Both are written per relay batch and not indexed,
 * so their updates are HOT. Queued starts from before this migration count their settled attempts (and a lease in
 * flight) as sends, none as refusals.
 */
export class RunRequestMaybeSent1765820000000 implements MigrationInterface {
  name = 'RunRequestMaybeSent1765820000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "workflow_run_requests" ADD COLUMN "start_sends" integer NOT NULL DEFAULT 0, ADD COLUMN "start_refusals" integer NOT NULL DEFAULT 0`,
    );
    await queryRunner.query(
      `UPDATE "workflow_run_requests" r SET "start_sends" = o.attempts + (CASE WHEN o.lease_token IS NULL THEN 0 ELSE 1 END)
       FROM "outbox" o
       WHERE r.delivery = 'queued' AND o.topic = 'workflow-executor.run-start' AND o.message_key = r.run_id::text
         AND o.status = 'pending' AND (o.attempts > 0 OR o.lease_token IS NOT NULL)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" DROP COLUMN "start_refusals", DROP COLUMN "start_sends"`);
  }
}
