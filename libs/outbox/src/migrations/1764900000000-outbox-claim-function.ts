import type { MigrationInterface, QueryRunner } from 'typeorm';

/*
 * The texts below are what migrations ran on databases that exist: never edit what they make. A new claim is a new
 * constant and a new migration (whose down restores the function as it was).
 */

/** The earliest due, unleased rows (`c`) of the topics whose ordering key is free, locked: what every claim starts from. */
export const DUE_HEADS = `FROM outbox c
          WHERE c.status = 'pending' AND c.next_attempt_at <= now()
            AND (c.locked_until IS NULL OR c.locked_until < now())
            AND c.topic = ANY(claim_topics)
            AND (c.ordering_key IS NULL OR NOT EXISTS (
              SELECT 1 FROM outbox e WHERE e.ordering_key = c.ordering_key AND e.status = 'pending' AND e.seq < c.seq
            ))
          ORDER BY c.seq
          LIMIT batch
          FOR UPDATE OF c SKIP LOCKED`;

/** Leases the rows of the CTE `picked` to the claim and returns them as outbox_claim does (CLAIM_RESULT). */
export const LEASE_PICKED = `UPDATE outbox o SET locked_until = now() + (lease_ms * interval '1 millisecond'), lease_token = lease
        FROM picked WHERE o.id = picked.id
        RETURNING o.id, o.seq::text, o.topic, o.message_key, o.ordering_key, o.payload, o.headers, o.attempts, o.created_at`;

/** The claim (outbox_claim's body): the earliest due, unleased rows of the topics whose ordering key is free. */
export const CLAIM_QUERY = `
        WITH picked AS (
          SELECT c.id ${DUE_HEADS}
        )
        ${LEASE_PICKED}`;

/** What every outbox_claim returns: the leased rows (LEASE_PICKED's RETURNING). */
export const CLAIM_RESULT = `RETURNS TABLE (id uuid, seq text, topic varchar, message_key varchar, ordering_key varchar, payload jsonb,
                     headers jsonb, attempts int, created_at timestamptz)`;

/** outbox_claim's signature and result, one text for this migration and the ones that replace its body. */
export const CLAIM_FUNCTION = `outbox_claim(batch int, lease_ms int, claim_topics text[], lease uuid)
      ${CLAIM_RESULT}`;

/** The function this migration creates (the next one replaces it, and its down puts this one back). */
export const SQL_CLAIM_FUNCTION = `FUNCTION ${CLAIM_FUNCTION}
      LANGUAGE sql VOLATILE
      SET enable_sort = off
      AS $$
${CLAIM_QUERY}
      $$`;

/**
 * The relay's claim as a function that plans it without sorts (docs/ARCHITECTURE.md, "Fire-and-forget without loss").
 *
 * The claim wants the earliest due rows in `seq` order, which the pending-only index gives in order, so the scan stops
 * after the batch. While the table's statistics are missing or stale (a young table that autovacuum has not analysed
 * yet, or a backlog that grew since the last ANALYZE), the planner guessed "about a hundred pending rows" and chose to
 * read every pending row of the topics and sort them: with a backlog of 30,000 rows each claim took 120 ms instead of
 * 1 ms, and the relay drained its backlog in minutes. `SET enable_sort = off` on the function takes the sort out of the
 * choices for this one statement (the ordered index scan is the only order left), whatever the statistics say.
 * SECURITY INVOKER (the default): the caller's privileges on `outbox` apply, as for the statement it replaces.
 */
export class OutboxClaimFunction1764900000000 implements MigrationInterface {
  name = 'OutboxClaimFunction1764900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE ${SQL_CLAIM_FUNCTION}`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION outbox_claim(int, int, text[], uuid)`);
  }
}
