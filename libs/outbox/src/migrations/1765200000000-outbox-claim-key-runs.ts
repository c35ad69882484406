import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CLAIM_RESULT, DUE_HEADS, LEASE_PICKED } from './1764900000000-outbox-claim-function';
import { PLANNED_ONCE } from './1765100000000-outbox-claim-planned-once';

/*
 * The text below is what this migration runs on databases that exist: never edit it. A new claim is a new constant
 * and a new migration (see 1764900000000-outbox-claim-function.ts).
 */

/** outbox_claim with key runs: its signature and result (the result is the four-argument claim's). */
export const KEY_RUN_CLAIM_FUNCTION = `outbox_claim(batch int, lease_ms int, claim_topics text[], lease uuid, run_topics text[], key_run int)
      ${CLAIM_RESULT}`;

/**
 * The claim's body. `heads` is the four-argument claim's pick (DUE_HEADS): the earliest due, unleased rows of the
 * topics whose ordering key has no earlier pending row. For a head of a `run_topics` topic, `candidates` locks the next rows of its
 * key (same topic, due, unleased), at most key_run − 1, and `followers` keeps a candidate only if every pending row of
 * the key between the head and it is a candidate too (its rank among the candidates equals its rank among the key's
 * pending rows; an index range count): a key's rows are taken as an unbroken run from its head, so no later row of a
 * key is ever leased while an earlier one is left for another relay. Nobody else can hold a
 * follower: another claim sees the head (pending, locked by this one) before it and skips the follower.
 */
export const KEY_RUN_CLAIM_QUERY = `
        WITH heads AS (
          SELECT c.id, c.seq, c.topic, c.ordering_key ${DUE_HEADS}
        ),
        candidates AS (
          SELECT n.id, n.seq, n.ordering_key, h.seq AS head_seq, n.rank
          FROM heads h
          CROSS JOIN LATERAL (
            SELECT l.id, l.seq, l.ordering_key, row_number() OVER (ORDER BY l.seq) AS rank
            FROM (
              SELECT f.id, f.seq, f.ordering_key FROM outbox f
              WHERE f.ordering_key = h.ordering_key AND f.status = 'pending' AND f.seq > h.seq
                AND f.topic = h.topic AND f.next_attempt_at <= now()
                AND (f.locked_until IS NULL OR f.locked_until < now())
              ORDER BY f.seq
              LIMIT greatest(coalesce(key_run, 1) - 1, 0)
              FOR UPDATE OF f SKIP LOCKED
            ) l
          ) n
          WHERE h.ordering_key IS NOT NULL AND h.topic = ANY(run_topics)
        ),
        followers AS (
          SELECT c.id FROM candidates c
          WHERE c.rank - 1 = (
            SELECT count(*) FROM outbox g
            WHERE g.ordering_key = c.ordering_key AND g.status = 'pending' AND g.seq > c.head_seq AND g.seq < c.seq
          )
        ),
        picked AS (SELECT id FROM heads UNION ALL SELECT id FROM followers)
        ${LEASE_PICKED}`;

/**
 * A claim that takes a key's consecutive rows together (docs/ARCHITECTURE.md, "Key runs").
 *
 * Rows of one ordering key used to leave one claim at a time: a workflow run's eight Bucket events needed eight
 * claim → deliver → settle cycles, one after another, and every claim walked the rows still waiting behind their
 * key's head. When the topic's handler applies a batch in order (OutboxHandler.ordersBatch: Bucket appends a batch's
 * events in the order sent, and refuses an event only for itself), the rows a producer committed together now go in
 * one claim and one request. Planned as the four-argument claim (OutboxClaimPlannedOnce1765100000000): the index
 * walks only, generic plan; the key's next rows come from IDX_outbox_pending_ordering_key in seq order. JIT off: the
 * ranks need a sort of a few rows, and enable_sort = off prices a sort so high that PostgreSQL compiled the statement
 * on every call (0.4–0.6 s a claim, measured; 8 ms for a claim of 50 keys' runs of 8 rows without it). A new
 * overload, so a relay of the previous release keeps calling the four-argument function during a rolling upgrade.
 */
export class OutboxClaimKeyRuns1765200000000 implements MigrationInterface {
  name = 'OutboxClaimKeyRuns1765200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION ${KEY_RUN_CLAIM_FUNCTION}
      ${PLANNED_ONCE}
      SET jit = off
      AS $$
      #variable_conflict use_column
      BEGIN
        RETURN QUERY ${KEY_RUN_CLAIM_QUERY};
      END
      $$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION outbox_claim(int, int, text[], uuid, text[], int)`);
  }
}
