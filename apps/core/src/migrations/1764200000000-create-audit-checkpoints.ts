import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bucket's signed checkpoints as Core witnessed them, kept outside Bucket: whoever can rewrite or cut back
 * Bucket's table cannot reach these rows, so comparing the chain with the latest one shows what the chain alone
 * cannot (the newest entries removed, everything removed, a rewrite with re-computed hashes).
 */
export class CreateAuditCheckpoints1764200000000 implements MigrationInterface {
  name = 'CreateAuditCheckpoints1764200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "audit_checkpoints" (
        "size"         bigint       NOT NULL,
        "head_hash"    varchar(64)  NOT NULL,
        "timestamp"    varchar(40)  NOT NULL,
        "signature"    text         NOT NULL,
        "witnessed_at" timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_audit_checkpoints" PRIMARY KEY ("size"),
        CONSTRAINT "CHK_audit_checkpoints_size" CHECK ("size" >= 0),
        CONSTRAINT "CHK_audit_checkpoints_head_hash" CHECK ("head_hash" ~ '^[0-9a-f]{64}$')
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "audit_checkpoints"`);
  }
}
