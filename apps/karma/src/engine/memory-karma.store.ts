import type { LedgerEntry, NewLedgerEntry } from '../model/ledger-entry';
import { copyQTable, recordQUpdate, type QTable } from '../model/q-learning';
import type { KarmaStore, PublishedRole, StoredEvent } from './karma-store';

/** The ledger in memory, for unit and property tests of the engine (no database). */
export class MemoryKarmaStore implements KarmaStore {
  readonly ledger: LedgerEntry[] = [];
  readonly events = new Map<string, StoredEvent>();
  readonly table: QTable = new Map();
  readonly roles = new Map<string, PublishedRole>();

  async findEvent(eventId: string): Promise<StoredEvent | null> {
    return this.events.get(eventId) ?? null;
  }

  async userEntries(userId: string): Promise<LedgerEntry[]> {
    return this.ledger.filter((e) => e.userId === userId).map((e) => ({ ...e, details: { ...e.details } }));
  }

  async append(entries: NewLedgerEntry[]): Promise<LedgerEntry[]> {
    const added = entries.map((e) => ({ ...e, seq: this.ledger.length + 1 + entries.indexOf(e) }));
    this.ledger.push(...added);
    return added.map((e) => ({ ...e }));
  }

  async saveEvent(event: StoredEvent): Promise<void> {
    if (this.events.has(event.eventId)) throw new Error(`duplicate event ${event.eventId}`);
    this.events.set(event.eventId, structuredClone(event));
  }

  async qTable(roles?: string[]): Promise<QTable> {
    return copyQTable(this.table, roles);
  }

  async saveQ(role: string, action: string, value: number): Promise<void> {
    recordQUpdate(this.table, role, action, value);
  }

  async publishedRole(userId: string): Promise<PublishedRole | null> {
    const row = this.roles.get(userId);
    return row ? { ...row } : null;
  }

  async savePublishedRole(role: PublishedRole): Promise<void> {
    this.roles.set(role.userId, { ...role });
  }
}
