import type { DataSource } from 'typeorm';

/**
 * How long the change feed waits for a transaction still open: past this, a run it changes may be delivered after
 * a follower's cursor has passed its time (a transaction that long is a leak, and PostgreSQL's
 * idle_in_transaction_session_timeout is the place to end it).
 */
export const FEED_HOLD_MAX_SECONDS = 60;

/**
 * The change feed's horizon: the time before which every change to a run is committed, or can never commit.
 *
 * A run's `updated_at` is its writer's transaction start (`now()`), and that transaction may commit later than one
 * that started after it. A follower that read the second's change moved its cursor past the first's time and never
 * saw the first (PRANA's live view read the feed with a look-back window for it). Every transaction still open in
 * this database started at or after the horizon, so a change it commits has `updated_at` >= horizon: a page that
 * stops before the horizon never has a later commit land behind it.
 *
 * Read in its own statement before the page's (a statement sees the commits made before it began): a transaction
 * that commits between the two was open at the first, so it is counted here, and its change either is in the page
 * or lies after the horizon. Sessions of other roles show no `xact_start` without pg_read_all_stats; the runtime
 * role is the same for every replica of the executor, so its own writers are all seen; autovacuum and other
 * background workers write no run and are not waited for.
 */
export async function feedHorizon(dataSource: DataSource, maxHoldSeconds = FEED_HOLD_MAX_SECONDS): Promise<string> {
  const [{ horizon }] = (await dataSource.query(
    `SELECT to_char(GREATEST(
              LEAST(clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity
                                         WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
                                           AND backend_type = 'client backend')),
              clock_timestamp() - make_interval(secs => $1)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS horizon`,
    [maxHoldSeconds],
  )) as Array<{ horizon: string }>;
  return horizon;
}
