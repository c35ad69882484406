import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A trigger's filter state is kept per product (T9: a requester narrowed to products sees and affects only its
 * products): one product's events no longer use up another's `rate_limit` slots, `dedup` window or debounced start,
 * and a skip's detail no longer tells a publisher of one product that another's runs started (docs/events.md,
 * "State, and two Core replicas").
 *
 * - `event_filter_state.product`: the event's product (`data.product`), `''` for an event without one. NOT NULL with a
 *   constant default: on PostgreSQL 11+ adding it is a catalog change, no rewrite of the table; every existing row
 *   gets `''` and so stays the product-less state (events without a product go on sharing it, as before).
 * - The primary key becomes (workflow, trigger, product, key), the router's global lock order. Changing it rebuilds
 *   the index under an ACCESS EXCLUSIVE lock on the table for the build (routing of stateful triggers waits for it);
 *   the table holds one small row per trigger and key, so this is seconds for millions of keys.
 * - A key's pending debounced start (`event_deferred_starts.debounce_slot`, unique) is named per product too: the
 *   router now builds the slot in SQL as `jsonb_build_array(workflow, trigger, key, product or '')::text`, and the
 *   rows waiting now are renamed the same way from their own `product` (the event's), so the next event of their
 *   product and key replaces them, and an event of another product does not. A state row stored before this
 *   migration may still count such a pending start for the product-less state (one start, once, at the upgrade).
 * - Not for a rolling upgrade: a Core of the release before fails every event of a stateful trigger against the new
 *   key (its ON CONFLICT names the old one) and no longer finds the slots renamed here. Stop the old Core replicas
 *   first (docs/deploy.md, "Upgrades that are not rolling").
 *
 * down() keeps the product-less states and drops the per-product ones (the shared state before this migration had
 * no room for them). Every pending start is kept (each still fires); the latest debounced one of each key is named as
 * the release before names it, the others lose their name (no later event replaces them).
 */
export class EventFilterStateProduct1765850000000 implements MigrationInterface {
  name = 'EventFilterStateProduct1765850000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "event_filter_state" ADD COLUMN "product" varchar(128) NOT NULL DEFAULT ''`);
    await queryRunner.query(`ALTER TABLE "event_filter_state" DROP CONSTRAINT "PK_event_filter_state"`);
    await queryRunner.query(`ALTER TABLE "event_filter_state" ADD CONSTRAINT "PK_event_filter_state" PRIMARY KEY ("workflow", "trigger", "product", "key")`);
    await queryRunner.query(
      `UPDATE "event_deferred_starts" SET "debounce_slot" = jsonb_build_array("workflow", "trigger", "key", COALESCE("product", ''))::text WHERE "debounce_slot" IS NOT NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // The release before named a slot JSON.stringify([workflow, trigger, key]) (no spaces), one per key: the latest.
    await queryRunner.query(
      `UPDATE "event_deferred_starts" d SET "debounce_slot" = NULL WHERE d."debounce_slot" IS NOT NULL AND EXISTS (
         SELECT 1 FROM "event_deferred_starts" o WHERE o."debounce_slot" IS NOT NULL AND o."workflow" = d."workflow" AND o."trigger" = d."trigger"
           AND o."key" = d."key" AND (o."due_at", o."id") > (d."due_at", d."id"))`,
    );
    await queryRunner.query(
      `UPDATE "event_deferred_starts" SET "debounce_slot" = replace(jsonb_build_array("workflow", "trigger", "key")::text, '", "', '","') WHERE "debounce_slot" IS NOT NULL`,
    );
    await queryRunner.query(`DELETE FROM "event_filter_state" WHERE "product" <> ''`);
    await queryRunner.query(`ALTER TABLE "event_filter_state" DROP CONSTRAINT "PK_event_filter_state"`);
    await queryRunner.query(`ALTER TABLE "event_filter_state" ADD CONSTRAINT "PK_event_filter_state" PRIMARY KEY ("workflow", "trigger", "key")`);
    await queryRunner.query(`ALTER TABLE "event_filter_state" DROP COLUMN "product"`);
  }
}
