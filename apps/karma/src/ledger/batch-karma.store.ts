import type { KarmaEventReply } from '@pancha/contracts';
import type { EntityManager } from 'typeorm';
import type { LedgerEntry, NewLedgerEntry } from '../model/ledger-entry';
import { copyQTable, recordQUpdate, type QTable } from '../model/q-learning';
import type { KarmaStore, StoredEvent } from '../engine/karma-store';
import { LedgerRow, PgKarmaStore, toLedgerEntry } from './pg-karma.store';

/**
 * The store of one ingest batch (group commit). Inside the transaction that holds the ledger lock it loads,
 * in a handful of queries, everything the batch's events can touch (their event ids, their users' entries,
 * the Q-table, the last seq); the engine then works in memory, and flush() writes the new ledger entries,
 * events and Q cells in three statements. Seqs are assigned here, contiguous after the last one: the lock
 * makes this process the only writer.
 */
export class BatchKarmaStore implements KarmaStore {
  private readonly events = new Map<string, StoredEvent>();
  private readonly entries = new Map<string, LedgerEntry[]>();
  private table: QTable = new Map();
  private lastSeq = 0;
  private readonly newEntries: LedgerEntry[] = [];
  private readonly newEvents: StoredEvent[] = [];
  private readonly dirtyQ = new Map<string, { role: string; action: string; updates: number }>();

  private constructor(private readonly manager: EntityManager) {}

  static async open(manager: EntityManager, eventIds: string[], userIds: string[]): Promise<BatchKarmaStore> {
    const store = new BatchKarmaStore(manager);
    const pg = new PgKarmaStore(manager);
    const users = [...new Set(userIds)];
    for (const u of users) store.entries.set(u, []);
    // One connection: the queries run one after the other anyway.
    const events = await pg.findEvents([...new Set(eventIds)]);
    const rows: LedgerRow[] = await manager.query(
      `SELECT seq, event_id, user_id, kind, action, token, amount, paap_class, ref_seq, details, effective_at, occurred_at
       FROM karma_ledger WHERE user_id = ANY($1) ORDER BY seq`,
      [users],
    );
    const table = await pg.qTable();
    const last: Array<{ seq: string }> = await manager.query(`SELECT coalesce(max(seq), 0)::bigint AS seq FROM karma_ledger`);
    for (const e of events) store.events.set(e.eventId, e);
    for (const row of rows) store.entries.get(row.user_id)?.push(toLedgerEntry(row));
    store.table = table;
    store.lastSeq = Number(last[0].seq);
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

  /** Writes what the batch produced; the caller commits. */
  async flush(): Promise<void> {
    if (this.newEntries.length) {
      const params: unknown[] = [];
      const tuples = this.newEntries.map((e) =>
        tuple(params, [e.seq, e.eventId, e.userId, e.kind, e.action, e.token, e.amount, e.paapClass, e.refSeq, JSON.stringify(e.details), new Date(e.at), new Date(e.occurredAt)]),
      );
      // The sequence follows, so a plain INSERT (default nextval) would still continue after these seqs.
      await this.manager.query(
        `WITH ins AS (
           INSERT INTO karma_ledger (seq, event_id, user_id, kind, action, token, amount, paap_class, ref_seq, details, effective_at, occurred_at)
           VALUES ${tuples.join(', ')} RETURNING seq)
         SELECT setval(pg_get_serial_sequence('karma_ledger', 'seq'), (SELECT max(seq) FROM ins))`,
        params,
      );
    }
    if (this.newEvents.length) {
      const params: unknown[] = [];
      const tuples = this.newEvents.map((e) =>
        tuple(params, [e.eventId, e.type, e.userId, e.fingerprint, e.source, new Date(e.occurredAt), new Date(e.recordedAt), JSON.stringify(e.reply as KarmaEventReply)]),
      );
      await this.manager.query(
        `INSERT INTO karma_event (event_id, type, user_id, fingerprint, source, occurred_at, recorded_at, reply) VALUES ${tuples.join(', ')}`,
        params,
      );
    }
    if (this.dirtyQ.size) {
      const params: unknown[] = [];
      const tuples = [...this.dirtyQ.values()].map((d) => {
        const value = this.table.get(d.role)?.get(d.action)?.value ?? 0;
        return tuple(params, [d.role, d.action, value, d.updates]).replace(/\)$/, ', now())');
      });
      await this.manager.query(
        `INSERT INTO karma_q_value (role, action, value, updates, updated_at) VALUES ${tuples.join(', ')}
         ON CONFLICT (role, action) DO UPDATE
         SET value = EXCLUDED.value, updates = karma_q_value.updates + EXCLUDED.updates, updated_at = EXCLUDED.updated_at`,
        params,
      );
    }
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
