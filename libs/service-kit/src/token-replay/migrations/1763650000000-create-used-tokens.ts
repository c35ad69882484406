import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Every service's database: the jti of each token used for a write, kept until the token expires. */
export class CreateUsedTokens1763650000000 implements MigrationInterface {
  name = 'CreateUsedTokens1763650000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "used_tokens" (
        "issuer"     varchar(64)  NOT NULL,
        "jti"        varchar(255) NOT NULL,
        "expires_at" timestamptz  NOT NULL,
        "binding"    varchar(255) NULL,
        "used_at"    timestamptz  NOT NULL DEFAULT now(),
        CONSTRAINT "PK_used_tokens" PRIMARY KEY ("issuer", "jti")
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_used_tokens_expires_at" ON "used_tokens" ("expires_at")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "used_tokens"`);
  }
}
