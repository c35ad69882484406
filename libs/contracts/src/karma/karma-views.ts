import type { KarmaEventType } from './karma-event.dto';

/** Where `POST /v1/event/` sent the event and what it wrote. */
export interface KarmaRoutingInfo {
  handler: `${KarmaEventType}`;
  /** Ledger entries this event appended (0 for a stats_request). */
  ledger_entries: number;
  /** Whether the Q-table was updated (every accepted life_event). */
  q_update: boolean;
}

/** The reply of `POST /v1/event/` (names kept from the original service). A replay returns the first reply unchanged. */
export interface KarmaEventReply<D = Record<string, unknown>> {
  status: 'success';
  event_type: `${KarmaEventType}`;
  message: string;
  data: D;
  /** When Karma recorded the event (ISO 8601, server clock). */
  timestamp: string;
  routing_info: KarmaRoutingInfo;
}

export interface TokenGrantView {
  token: string;
  amount: number;
}

export interface QUpdateView {
  role: string;
  action: string;
  reward: number;
  next_role: string;
  q_before: number;
  q_after: number;
}

/** `data` of a life_event reply. */
export interface LifeEventReplyData {
  event_id: string;
  user_id: string;
  action: string;
  /** Token change this action caused (a cheat's penalty is negative); null for paap-only actions. */
  grant: TokenGrantView | null;
  /** True when a daily cap reduced the grant. */
  capped: boolean;
  paap: { class: string; plan_id: string } | null;
  cheat_count_30d: number;
  merit_before: number;
  merit_after: number;
  net_karma: number;
  role_before: string;
  role_after: string;
  q_update: QUpdateView;
  occurred_at: string;
}

export interface AtonementPlanView {
  plan_id: string;
  action: string | null;
  paap_class: string;
  created_at: string;
  expires_at: string;
  required: Record<string, number>;
  progress: Record<string, number>;
  remaining: Record<string, number>;
}

export interface AppealView {
  seq: number;
  action: string;
  context: string | Record<string, unknown> | null;
  at: string;
}

export interface DeathView {
  seq: number;
  loka: string;
  net_karma: number;
  at: string;
}

/** `GET /api/v1/karma/:user_id`: everything computed from the ledger as of now. */
export interface KarmaProfile {
  user_id: string;
  as_of: string;
  /** Token balances after decay and expiry. */
  balances: Record<string, number>;
  merit: number;
  /** Open (not atoned, not expired) paap entries by class. */
  paap: Record<string, number>;
  /** Σ class weight × open entries. */
  paap_weighted: number;
  net_karma: number;
  role: string;
  cheat_count_30d: number;
  /** The loka a death_event would assign now. */
  loka: string;
  predicted_next_role: string;
  recommended_action: string | null;
  /** Q-values of the current role, by action. */
  q_values: Record<string, number>;
  atonement_plans: AtonementPlanView[];
  atoned_count: number;
  appeals: AppealView[];
  last_death: DeathView | null;
}

/** `GET /v1/stats/user/:user_id`: the profile plus activity counts. */
export interface KarmaUserStats extends KarmaProfile {
  stats: {
    events: number;
    ledger_entries: number;
    actions: Record<string, number>;
    first_event_at: string | null;
    last_event_at: string | null;
  };
}

export interface QCellView {
  role: string;
  action: string;
  value: number;
  updates: number;
}

/** `GET /v1/q-table`. */
export interface QTableView {
  alpha: number;
  gamma: number;
  epsilon: number;
  roles: string[];
  actions: string[];
  /** role → action → value (0 where never updated). */
  table: Record<string, Record<string, number>>;
  /** Sum of update counts: the number of accepted actions. */
  updates: number;
  cells: QCellView[];
}

/** The width of one bucket of `GET /v1/karma/:user_id/history`. */
export type KarmaHistoryBucket = 'hour' | 'day';
export const KARMA_HISTORY_BUCKETS: readonly KarmaHistoryBucket[] = ['hour', 'day'];
/**
 * `GET /v1/karma/:user_id/history` query: `since` and `until` (RFC 3339; until defaults to now), `bucket` (default
 * day). Any other name is a 400 and a repeated one a 422: ignored, `?buckets=hour` would answer days as if hours.
 */
export interface KarmaHistoryQuery {
  since?: string;
  until?: string;
  bucket?: string;
}
const KARMA_HISTORY_QUERY_FIELDS: Record<keyof KarmaHistoryQuery, true> = { since: true, until: true, bucket: true };
export const KARMA_HISTORY_QUERY_PARAMETERS: readonly string[] = Object.keys(KARMA_HISTORY_QUERY_FIELDS);
/** A history answer spans at most this many buckets (a wider range is a 422 naming `since`). */
export const KARMA_HISTORY_MAX_BUCKETS = 1000;

/**
 * One bucket of a user's ledger: what was recorded in it (by the time Karma recorded it, UTC buckets).
 * merit = Σ merit_weight × amount of the action entries (penalties are negative); paap = Σ class weight of the
 * paap entries recorded; net = merit − paap; net_cumulative runs from the first bucket of the answer. These are
 * flows per bucket, not balances: decay, expiry and atonement show in the profile, not here.
 */
export interface KarmaHistoryPoint {
  /** Start of the bucket (ISO 8601, UTC). */
  at: string;
  merit: number;
  paap: number;
  net: number;
  net_cumulative: number;
  /** Ledger entries recorded in the bucket. */
  entries: number;
}

/** `GET /v1/karma/:user_id/history?since=&until=&bucket=hour|day`: every bucket of the range, empty ones as zeros. */
/**
 * `GET /v1/karma/<user>/head`: where a user's ledger stands, cheaply (one index lookup, no fold): the newest entry's
 * seq changes exactly when Karma records something for the user (the ledger is append-only). PRANA's live stream
 * watches it; an unknown user is `{ entries: 0, last_seq: null }`, not a 404.
 */
export interface KarmaLedgerHead {
  user_id: string;
  entries: number;
  /** seq of the user's newest ledger entry (a bigint as a string), or null. */
  last_seq: string | null;
  /** When that entry was recorded (ISO 8601), or null. */
  last_at: string | null;
}

export interface KarmaHistory {
  user_id: string;
  bucket: KarmaHistoryBucket;
  since: string;
  until: string;
  /** Ledger entries in the whole range (0: nothing to draw). */
  entries: number;
  points: KarmaHistoryPoint[];
}
