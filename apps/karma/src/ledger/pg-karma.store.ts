import type { KarmaEventReply } from '@pancha/contracts';
import type { EntityManager } from 'typeorm';
import type { LedgerEntry, LedgerKind, NewLedgerEntry } from '../model/ledger-entry';
import type { QTable } from '../model/q-learning';
import type { KarmaStore, PublishedRole, StoredEvent } from '../engine/karma-store';

export interface LedgerRow {
  seq: string;
  event_id: string;
  user_id: string;
  kind: LedgerKind;
  action: string | null;
  token: string | null;
  amount: number;
  paap_class: string | null;
  ref_seq: string | null;
  details: Record<string, unknown>;
  /** A Date from a column, ISO text from a row inside json_agg (BatchKarmaStore's one read). */
  effective_at: Date | string;
  occurred_at: Date | string;
}

export const LEDGER_COLUMNS = 'seq, event_id, user_id, kind, action, token, amount, paap_class, ref_seq, details, effective_at, occurred_at';

export function toLedgerEntry(row: LedgerRow): LedgerEntry {
  return {
    seq: Number(row.seq),
    eventId: row.event_id,
    userId: row.user_id,
    kind: row.kind,
    action: row.action,
    token: row.token,
    amount: row.amount,
    paapClass: row.paap_class,
    refSeq: row.ref_seq === null ? null : Number(row.ref_seq),
    details: row.details,
    at: new Date(row.effective_at).getTime(),
    occurredAt: new Date(row.occurred_at).getTime(),
  };
}

export const EVENT_COLUMNS = 'event_id, type, user_id, fingerprint, source, occurred_at, recorded_at, reply';

/** A karma_q_value cell as the engine reads it (QValueRow). */
export const Q_COLUMNS = 'role, action, value, updates';

/** A karma_event row (EVENT_COLUMNS); times as Date from a column or ISO text from json_agg. */
export interface EventRow {
  event_id: string;
  type: string;
  user_id: string;
  fingerprint: string;
  source: string | null;
  occurred_at: Date | string;
  recorded_at: Date | string;
  reply: KarmaEventReply;
}

export function toStoredEvent(r: EventRow): StoredEvent {
  return {
    eventId: r.event_id, type: r.type, userId: r.user_id, fingerprint: r.fingerprint, source: r.source,
    occurredAt: new Date(r.occurred_at).getTime(), recordedAt: new Date(r.recorded_at).getTime(), reply: r.reply,
  };
}

export interface QValueRow {
  role: string;
  action: string;
  value: number;
  updates: number;
}

export function toQTable(rows: readonly QValueRow[]): QTable {
  const table: QTable = new Map();
  for (const r of rows) {
    let row = table.get(r.role);
    if (!row) table.set(r.role, (row = new Map()));
    row.set(r.action, { value: r.value, updates: r.updates });
  }
  return table;
}

/** A karma_published_role row; times as Date from a column or ISO text from json_agg, bigints as text or number. */
export interface PublishedRoleRow {
  user_id: string;
  role: string | null;
  ledger_seq: string | number | null;
  published_at: Date | string | null;
  next_time_change_at: Date | string | null;
  unpublished_event_seq: string | number | null;
}

export const PUBLISHED_ROLE_COLUMNS = 'user_id, role, ledger_seq, published_at, next_time_change_at, unpublished_event_seq';

const msOrNull = (v: Date | string | null): number | null => (v === null ? null : new Date(v).getTime());
const numberOrNull = (v: string | number | null): number | null => (v === null ? null : Number(v));

export function toPublishedRole(row: PublishedRoleRow): PublishedRole {
  return {
    userId: row.user_id,
    role: row.role,
    ledgerSeq: numberOrNull(row.ledger_seq),
    at: msOrNull(row.published_at),
    nextTimeChangeAt: msOrNull(row.next_time_change_at),
    unpublishedEventSeq: numberOrNull(row.unpublished_event_seq),
  };
}

/** The values of a row in PUBLISHED_ROLE_COLUMNS order. */
export function publishedRoleValues(r: PublishedRole): unknown[] {
  const date = (ms: number | null) => (ms === null ? null : new Date(ms));
  return [r.userId, r.role, r.ledgerSeq, date(r.at), date(r.nextTimeChangeAt), r.unpublishedEventSeq];
}

/**
 * Writes karma_published_role rows: append `VALUES (…), …` and then ON_PUBLISHED_ROLE_CONFLICT (one row per user). A
 * write clears the row's sweep claim: a sweep batch that folded the row as it was will find it changed and leave it,
 * so another round may take it at once.
 */
export const UPSERT_PUBLISHED_ROLE = `INSERT INTO karma_published_role (${PUBLISHED_ROLE_COLUMNS}) VALUES`;
export const ON_PUBLISHED_ROLE_CONFLICT = `ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, ledger_seq = EXCLUDED.ledger_seq,
  published_at = EXCLUDED.published_at, next_time_change_at = EXCLUDED.next_time_change_at, unpublished_event_seq = EXCLUDED.unpublished_event_seq,
  sweep_claimed_until = NULL`;

/** The store over one EntityManager: inside the ingest transaction, or the plain manager for reads. */
export class PgKarmaStore implements KarmaStore {
  constructor(private readonly manager: EntityManager) {}

  async findEvent(eventId: string): Promise<StoredEvent | null> {
    return (await this.findEvents([eventId]))[0] ?? null;
  }

  async findEvents(eventIds: string[]): Promise<StoredEvent[]> {
    if (eventIds.length === 0) return [];
    const rows: EventRow[] = await this.manager.query(`SELECT ${EVENT_COLUMNS} FROM karma_event WHERE event_id = ANY($1::uuid[])`, [eventIds]);
    return rows.map(toStoredEvent);
  }

  async userEntries(userId: string): Promise<LedgerEntry[]> {
    const rows: LedgerRow[] = await this.manager.query(`SELECT ${LEDGER_COLUMNS} FROM karma_ledger WHERE user_id = $1 ORDER BY seq`, [userId]);
    return rows.map(toLedgerEntry);
  }

  async append(entries: NewLedgerEntry[]): Promise<LedgerEntry[]> {
    if (entries.length === 0) return [];
    const params: unknown[] = [];
    const tuples = entries.map((e) => {
      const values = [e.eventId, e.userId, e.kind, e.action, e.token, e.amount, e.paapClass, e.refSeq, JSON.stringify(e.details), new Date(e.at), new Date(e.occurredAt)];
      const placeholders = values.map((v) => {
        params.push(v);
        return `$${params.length}`;
      });
      return `(${placeholders.join(', ')})`;
    });
    // Multi-row VALUES keep their order, so seq follows the order of `entries`.
    const rows: LedgerRow[] = await this.manager.query(
      `INSERT INTO karma_ledger (event_id, user_id, kind, action, token, amount, paap_class, ref_seq, details, effective_at, occurred_at)
       VALUES ${tuples.join(', ')} RETURNING ${LEDGER_COLUMNS}`,
      params,
    );
    return rows.map(toLedgerEntry).sort((a, b) => a.seq - b.seq);
  }

  async saveEvent(e: StoredEvent): Promise<void> {
    await this.manager.query(
      `INSERT INTO karma_event (event_id, type, user_id, fingerprint, source, occurred_at, recorded_at, reply)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [e.eventId, e.type, e.userId, e.fingerprint, e.source, new Date(e.occurredAt), new Date(e.recordedAt), JSON.stringify(e.reply)],
    );
  }

  async qTable(roles?: string[]): Promise<QTable> {
    const rows: QValueRow[] = roles
      ? await this.manager.query(`SELECT ${Q_COLUMNS} FROM karma_q_value WHERE role = ANY($1)`, [roles])
      : await this.manager.query(`SELECT ${Q_COLUMNS} FROM karma_q_value`);
    return toQTable(rows);
  }

  async saveQ(role: string, action: string, value: number): Promise<void> {
    await this.manager.query(
      `INSERT INTO karma_q_value (role, action, value, updates, updated_at) VALUES ($1, $2, $3, 1, now())
       ON CONFLICT (role, action) DO UPDATE SET value = EXCLUDED.value, updates = karma_q_value.updates + 1, updated_at = EXCLUDED.updated_at`,
      [role, action, value],
    );
  }

  async publishedRole(userId: string): Promise<PublishedRole | null> {
    const rows: PublishedRoleRow[] = await this.manager.query(`SELECT ${PUBLISHED_ROLE_COLUMNS} FROM karma_published_role WHERE user_id = $1`, [userId]);
    return rows.length ? toPublishedRole(rows[0]) : null;
  }

  async savePublishedRole(r: PublishedRole): Promise<void> {
    await this.manager.query(`${UPSERT_PUBLISHED_ROLE} ($1, $2, $3, $4, $5, $6) ${ON_PUBLISHED_ROLE_CONFLICT}`, publishedRoleValues(r));
  }

  /** The whole ledger in seq order (integration checks and audits). */
  async ledger(): Promise<LedgerEntry[]> {
    const rows: LedgerRow[] = await this.manager.query(`SELECT ${LEDGER_COLUMNS} FROM karma_ledger ORDER BY seq`);
    return rows.map(toLedgerEntry);
  }
}
