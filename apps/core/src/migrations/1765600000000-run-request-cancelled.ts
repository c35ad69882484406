import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A run cancelled while its start was still in Core's outbox (the executor never had it) ends there: `delivery`
 * `cancelled`, its outbox message withdrawn in the same transaction (docs/workflow-engine.md, "Cancelling a run
 * the executor has not received").
 */
export class RunRequestCancelled1765600000000 implements MigrationInterface {
  name = 'RunRequestCancelled1765600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" DROP CONSTRAINT "CHK_workflow_run_requests_delivery"`);
    await queryRunner.query(
      `ALTER TABLE "workflow_run_requests" ADD CONSTRAINT "CHK_workflow_run_requests_delivery" CHECK ("delivery" IN ('queued', 'delivered', 'refused', 'cancelled'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_run_requests" DROP CONSTRAINT "CHK_workflow_run_requests_delivery"`);
    // A cancelled request never reached the executor: to the older schema it is a refused start.
    await queryRunner.query(`UPDATE "workflow_run_requests" SET "delivery" = 'refused' WHERE "delivery" = 'cancelled'`);
    await queryRunner.query(
      `ALTER TABLE "workflow_run_requests" ADD CONSTRAINT "CHK_workflow_run_requests_delivery" CHECK ("delivery" IN ('queued', 'delivered', 'refused'))`,
    );
  }
}
