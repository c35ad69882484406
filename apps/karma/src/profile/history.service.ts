import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  CommonErrorCode,
  KARMA_HISTORY_BUCKETS,
  KARMA_HISTORY_MAX_BUCKETS,
  parseTimestamp,
  TIMESTAMP_RULE,
  type FieldError,
  type KarmaHistory,
  type KarmaHistoryBucket,
  type KarmaLedgerHead,
} from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';
import { DataSource } from 'typeorm';
import { Clock } from '../clock/clock';
import { KarmaEngine } from '../engine/karma-engine';
import { DAY_MS, HOUR_MS } from '../model/ledger-entry';

const BUCKET_MS: Record<KarmaHistoryBucket, number> = { hour: HOUR_MS, day: DAY_MS };
/** Without `since`: the last 48 hours by hour, the last 30 days by day. */
const DEFAULT_BUCKETS: Record<KarmaHistoryBucket, number> = { hour: 48, day: 30 };

export interface HistoryQuery {
  since?: unknown;
  until?: unknown;
  bucket?: unknown;
}

interface Row {
  at: Date;
  merit: number;
  paap: number;
  net_cumulative: number;
  entries: number;
}

/**
 * A user's ledger over time, aggregated by PostgreSQL in one statement: a dense series of UTC buckets
 * (generate_series) left-joined to the ledger rows of the range grouped by bucket. Token merit weights and
 * paap class weights come from the model file and go in as JSON parameters, so the sums are the model's.
 */
@Injectable()
export class HistoryService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(KarmaEngine) private readonly engine: KarmaEngine,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /** Where the user's ledger stands: count and newest seq from the (user_id, seq) index, no fold of the entries. */
  async head(userId: string): Promise<KarmaLedgerHead> {
    const [row] = (await this.dataSource.query(
      `SELECT count(*)::int AS entries, max(seq)::text AS last_seq, max(effective_at) AS last_at FROM karma_ledger WHERE user_id = $1`,
      [userId],
    )) as Array<{ entries: number; last_seq: string | null; last_at: Date | null }>;
    return { user_id: userId, entries: row.entries, last_seq: row.last_seq, last_at: row.last_at ? new Date(row.last_at).toISOString() : null };
  }

  async history(userId: string, query: HistoryQuery): Promise<KarmaHistory> {
    const { bucket, since, until } = this.parse(query);
    const cfg = this.engine.config;
    const meritWeights = Object.fromEntries(Object.entries(cfg.tokens).map(([t, r]) => [t, r.meritWeight]));
    const paapWeights = Object.fromEntries(Object.entries(cfg.paapClasses).map(([c, r]) => [c, r.weight]));
    const rows: Row[] = await this.dataSource.query(
      `WITH buckets AS (
         SELECT generate_series(date_trunc($3::text, $1::timestamptz AT TIME ZONE 'UTC'),
                                date_trunc($3::text, $2::timestamptz AT TIME ZONE 'UTC'),
                                ('1 ' || $3::text)::interval) AS at
       ), sums AS (
         SELECT date_trunc($3::text, effective_at AT TIME ZONE 'UTC') AS at,
                SUM(CASE WHEN kind = 'action' THEN amount * COALESCE(($5::jsonb ->> token)::float8, 0) ELSE 0 END) AS merit,
                SUM(CASE WHEN kind = 'paap' THEN COALESCE(($6::jsonb ->> paap_class)::float8, 0) ELSE 0 END) AS paap,
                count(*) AS entries
           FROM karma_ledger
          WHERE user_id = $4
            AND effective_at >= date_trunc($3::text, $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            AND effective_at < $2::timestamptz
          GROUP BY 1
       )
       SELECT b.at AT TIME ZONE 'UTC' AS at,
              COALESCE(s.merit, 0)::float8 AS merit,
              COALESCE(s.paap, 0)::float8 AS paap,
              SUM(COALESCE(s.merit, 0) - COALESCE(s.paap, 0)) OVER (ORDER BY b.at)::float8 AS net_cumulative,
              COALESCE(s.entries, 0)::int AS entries
         FROM buckets b LEFT JOIN sums s USING (at)
        ORDER BY b.at`,
      [since.toISOString(), until.toISOString(), bucket, userId, JSON.stringify(meritWeights), JSON.stringify(paapWeights)],
    );
    const points = rows.map((r) => ({
      at: new Date(r.at).toISOString(),
      merit: round(r.merit),
      paap: round(r.paap),
      net: round(r.merit - r.paap),
      net_cumulative: round(r.net_cumulative),
      entries: r.entries,
    }));
    return {
      user_id: userId,
      bucket,
      since: since.toISOString(),
      until: until.toISOString(),
      entries: points.reduce((n, p) => n + p.entries, 0),
      points,
    };
  }

  private parse(query: HistoryQuery): { bucket: KarmaHistoryBucket; since: Date; until: Date } {
    const errors: FieldError[] = [];
    let bucket: KarmaHistoryBucket = 'day';
    if (query.bucket !== undefined) {
      if (typeof query.bucket === 'string' && (KARMA_HISTORY_BUCKETS as readonly string[]).includes(query.bucket)) bucket = query.bucket as KarmaHistoryBucket;
      else errors.push({ field: 'bucket', messages: [`must be one of ${KARMA_HISTORY_BUCKETS.join(', ')}`] });
    }
    const until = query.until === undefined ? this.clock.now() : instant(query.until, 'until', errors);
    const since =
      query.since === undefined ? (until ? new Date(until.getTime() - DEFAULT_BUCKETS[bucket] * BUCKET_MS[bucket]) : undefined) : instant(query.since, 'since', errors);
    if (since && until && errors.length === 0) {
      if (since.getTime() >= until.getTime()) errors.push({ field: 'since', messages: ['must be before until'] });
      else if (bucketCount(since, until, bucket) > KARMA_HISTORY_MAX_BUCKETS) {
        errors.push({ field: 'since', messages: [`the range spans more than ${KARMA_HISTORY_MAX_BUCKETS} ${bucket} buckets; narrow it or use a wider bucket`] });
      }
    }
    if (errors.length || !since || !until) {
      throw new DomainException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        CommonErrorCode.ValidationFailed,
        errors.map((e) => `${e.field} ${e.messages.join('; ')}`).join('; '),
        errors,
      );
    }
    return { bucket, since, until };
  }
}

/**
 * The points the answer holds: every bucket from since's, rounded down, through until's (generate_series above).
 * UTC hours and days are whole multiples of their length since the epoch, so flooring is date_trunc.
 */
function bucketCount(since: Date, until: Date, bucket: KarmaHistoryBucket): number {
  const size = BUCKET_MS[bucket];
  return Math.floor(until.getTime() / size) - Math.floor(since.getTime() / size) + 1;
}

function instant(v: unknown, field: string, errors: FieldError[]): Date | undefined {
  const d = parseTimestamp(v);
  if (!d) errors.push({ field, messages: [`must be ${TIMESTAMP_RULE}`] });
  return d;
}

/** Float sums of weights like 1.2 carry binary noise; six decimals is more than any chart shows. */
function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
