import type { KarmaEventReply } from '@pancha/contracts';
import type { EntityManager } from 'typeorm';
import type { LedgerEntry, NewLedgerEntry } from '../model/ledger-entry';
import { copyQTable, recordQUpdate, type QTable } from '../model/q-learning';
import type { KarmaStore, PublishedRole, StoredEvent } from '../engine/karma-store';
import {
  EVENT_COLUMNS,
  type EventRow,
  LEDGER_COLUMNS,
  type LedgerRow,
  ON_PUBLISHED_ROLE_CONFLICT,
  PUBLISHED_ROLE_COLUMNS,
  type PublishedRoleRow,
  publishedRoleValues,
  Q_COLUMNS,
  type QValueRow,
  toLedgerEntry,
  toPublishedRole,
  toQTable,
  toStoredEvent,
  UPSERT_PUBLISHED_ROLE,
} from './pg-karma.store';

/**
 * Everything a batch can touch, in one statement (one round trip instead of four; its one snapshot is taken after
 * the caller's ledger lock): the batch's stored events, its users' ledger entries in seq order and published-role
 * rows, the Q-table and the last seq. Rows come as json_agg text: times as ISO text (read back to the millisecond,
 * as node-postgres does), float8 in its shortest exact form.
 *
 * The published-role rows are locked (FOR UPDATE) until the batch commits: the scheduled sweep (KarmaRoleSweep), which
 * does not take the ledger lock, settles its users under their row locks too (FOR UPDATE SKIP LOCKED, in a short
 * transaction after its fold, only if the row and the ledger are still as it folded them), so for any one user either
 * the sweep or an event compares and publishes, never both. A row a settling sweep holds is waited for (never for a
 * fold) and read as the sweep left it (PostgreSQL re-reads a row locked after a wait), so an event never publishes
 * again what the sweep just did.
 */
const LOAD_SQL = `
  SELECT
    (SELECT coalesce(json_agg(e), '[]'::json) FROM (SELECT ${EVENT_COLUMNS} FROM karma_event WHERE event_id = ANY($1::uuid[])) e) AS events,
    (SELECT coalesce(json_agg(l ORDER BY l.seq), '[]'::json) FROM (SELECT ${LEDGER_COLUMNS} FROM karma_ledger WHERE user_id = ANY($2::text[])) l) AS ledger,
    (SELECT coalesce(json_agg(q), '[]'::json) FROM (SELECT ${Q_COLUMNS} FROM karma_q_value) q) AS q_values,
    (SELECT coalesce(json_agg(r), '[]'::json) FROM (SELECT ${PUBLISHED_ROLE_COLUMNS} FROM karma_published_role WHERE user_id = ANY($2::text[]) FOR UPDATE) r) AS roles,
    (SELECT coalesce(max(seq), 0)::text FROM karma_ledger) AS last_seq`;

/**
 * The store of one ingest batch (group commit). Inside the transaction that holds the ledger lock it loads, in one
 * statement (LOAD_SQL), everything the batch's events can touch (their event ids, their users' entries, the Q-table,
 * the last seq); the engine then works in memory, and flush() writes the new ledger entries, events and Q cells in
 * one statement. Seqs are assigned here, contiguous after the last one: the lock makes this process the only writer.
 */
export class BatchKarmaStore implements KarmaStore {
  private readonly events = new Map<string, StoredEvent>();
  private readonly entries = new Map<string, LedgerEntry[]>();
  private table: QTable = new Map();
  private lastSeq = 0;
  private readonly newEntries: LedgerEntry[] = [];
  private readonly newEvents: StoredEvent[] = [];
  private readonly dirtyQ = new Map<string, { role: string; action: string; updates: number }>();
  private readonly roles = new Map<string, PublishedRole>();
  /** The batch's last published role per user (the last one wins: one row per user in flush's upsert). */
  private readonly newRoles = new Map<string, PublishedRole>();

  private constructor(private readonly manager: EntityManager) {}

  static async open(manager: EntityManager, eventIds: string[], userIds: string[]): Promise<BatchKarmaStore> {
    const store = new BatchKarmaStore(manager);
    const users = [...new Set(userIds)];
    for (const u of users) store.entries.set(u, []);
    const [loaded]: Array<{ events: EventRow[]; ledger: LedgerRow[]; q_values: QValueRow[]; roles: PublishedRoleRow[]; last_seq: string }> = await manager.query(LOAD_SQL, [
      [...new Set(eventIds)],
      users,
    ]);
    for (const row of loaded.events) store.events.set(row.event_id, toStoredEvent(row));
    for (const row of loaded.ledger) store.entries.get(row.user_id)?.push(toLedgerEntry(row));
    store.table = toQTable(loaded.q_values);
    for (const row of loaded.roles) store.roles.set(row.user_id, toPublishedRole(row));
    store.lastSeq = Number(loaded.last_seq);
    return store;
  }

  async findEvent(eventId: string): Promise<StoredEvent | null> {
    return this.events.get(eventId) ?? null;
  }

  async userEntries(userId: string): Promise<LedgerEntry[]> {
    const list = this.entries.get(userId);
    if (!list) throw new Error(`user ${userId} was not loaded into this batch`);
    return [...list];
  }

  async append(entries: NewLedgerEntry[]): Promise<LedgerEntry[]> {
    const added = entries.map((e) => ({ ...e, seq: ++this.lastSeq }));
    for (const e of added) {
      const list = this.entries.get(e.userId);
      if (!list) throw new Error(`user ${e.userId} was not loaded into this batch`);
      list.push(e);
      this.newEntries.push(e);
    }
    return added.map((e) => ({ ...e }));
  }

  async saveEvent(event: StoredEvent): Promise<void> {
    this.events.set(event.eventId, event);
    this.newEvents.push(event);
  }

  async qTable(roles?: string[]): Promise<QTable> {
    return copyQTable(this.table, roles);
  }

  async saveQ(role: string, action: string, value: number): Promise<void> {
    recordQUpdate(this.table, role, action, value);
    const key = `${role}\u0000${action}`;
    const dirty = this.dirtyQ.get(key);
    if (dirty) dirty.updates += 1;
    else this.dirtyQ.set(key, { role, action, updates: 1 });
  }

  async publishedRole(userId: string): Promise<PublishedRole | null> {
    const row = this.roles.get(userId);
    return row ? { ...row } : null;
  }

  async savePublishedRole(role: PublishedRole): Promise<void> {
    this.roles.set(role.userId, { ...role });
    this.newRoles.set(role.userId, { ...role });
  }

  /**
   * Writes what the batch produced in one statement, the caller commits: its ledger entries (the serial sequence moved
   * past their seqs, so a plain INSERT would still continue after them), its events, its Q cells and its users' published-role
   * rows.
   */
  async flush(): Promise<void> {
    const params: unknown[] = [];
    const writes: string[] = [];
    if (this.newEntries.length) {
      const tuples = this.newEntries.map((e) =>
        tuple(params, [e.seq, e.eventId, e.userId, e.kind, e.action, e.token, e.amount, e.paapClass, e.refSeq, JSON.stringify(e.details), new Date(e.at), new Date(e.occurredAt)]),
      );
      writes.push(`ledger AS (
        INSERT INTO karma_ledger (seq, event_id, user_id, kind, action, token, amount, paap_class, ref_seq, details, effective_at, occurred_at)
        VALUES ${tuples.join(', ')} RETURNING seq)`);
    }
    if (this.newEvents.length) {
      const tuples = this.newEvents.map((e) =>
        tuple(params, [e.eventId, e.type, e.userId, e.fingerprint, e.source, new Date(e.occurredAt), new Date(e.recordedAt), JSON.stringify(e.reply as KarmaEventReply)]),
      );
      writes.push(`events AS (
        INSERT INTO karma_event (event_id, type, user_id, fingerprint, source, occurred_at, recorded_at, reply) VALUES ${tuples.join(', ')})`);
    }
    if (this.dirtyQ.size) {
      const tuples = [...this.dirtyQ.values()].map((d) => {
        const value = this.table.get(d.role)?.get(d.action)?.value ?? 0;
        return tuple(params, [d.role, d.action, value, d.updates]).replace(/\)$/, ', now())');
      });
      writes.push(`q AS (
        INSERT INTO karma_q_value (role, action, value, updates, updated_at) VALUES ${tuples.join(', ')}
        ON CONFLICT (role, action) DO UPDATE
        SET value = EXCLUDED.value, updates = karma_q_value.updates + EXCLUDED.updates, updated_at = EXCLUDED.updated_at)`);
    }
    if (this.newRoles.size) {
      const tuples = [...this.newRoles.values()].map((r) => tuple(params, publishedRoleValues(r)));
      writes.push(`roles AS (${UPSERT_PUBLISHED_ROLE} ${tuples.join(', ')} ${ON_PUBLISHED_ROLE_CONFLICT})`);
    }
    if (writes.length === 0) return;
    // PostgreSQL runs every data-modifying CTE to completion, read or not.
    const result = this.newEntries.length ? `SELECT setval(pg_get_serial_sequence('karma_ledger', 'seq'), (SELECT max(seq) FROM ledger))` : 'SELECT 1';
    await this.manager.query(`WITH ${writes.join(',\n')}\n${result}`, params);
  }
}

/** `($n, $n+1, …)` for these values, appended to params. */
function tuple(params: unknown[], values: unknown[]): string {
  const placeholders = values.map((v) => {
    params.push(v);
    return `$${params.length}`;
  });
  return `(${placeholders.join(', ')})`;
}
