import type { KarmaModelConfig } from '../config/karma-config';
import { decideAction, meritAt, roleFor } from './karma-model';
import type { LedgerEntry } from './ledger-entry';

/** One cell of the role × action table. */
export interface QCell {
  value: number;
  updates: number;
}

/** role → action → cell; a missing cell is 0 with no updates. */
export type QTable = Map<string, Map<string, QCell>>;

export interface QTransition {
  /** s: the user's role before the action. */
  role: string;
  action: string;
  /** r: the merit change the action caused. */
  reward: number;
  /** s′: the role after it. */
  nextRole: string;
}

export function qValue(table: QTable, role: string, action: string): number {
  return table.get(role)?.get(action)?.value ?? 0;
}

/** max over the configured actions of Q[role, a′] (0 for never-updated cells). */
export function maxQ(cfg: KarmaModelConfig, row: ReadonlyMap<string, QCell> | undefined): number {
  let max = -Infinity;
  for (const a of cfg.actionNames) max = Math.max(max, row?.get(a)?.value ?? 0);
  return max;
}

/** Q[s,a] + α (r + γ max_a′ Q[s′,a′] − Q[s,a]): the one formula the service and every replay use. */
export function qUpdatedValue(cfg: KarmaModelConfig, current: number, reward: number, maxNext: number): number {
  const { alpha, gamma } = cfg.qLearning;
  return current + alpha * (reward + gamma * maxNext - current);
}

/** Applies one transition to an in-memory table; returns the cell's value before and after. */
export function applyQUpdate(cfg: KarmaModelConfig, table: QTable, t: QTransition): { before: number; after: number } {
  const before = qValue(table, t.role, t.action);
  const after = qUpdatedValue(cfg, before, t.reward, maxQ(cfg, table.get(t.nextRole)));
  recordQUpdate(table, t.role, t.action, after);
  return { before, after };
}

/** The transition an action entry stands for, recomputed from the user's entries before it and its own event's entries. */
export function transitionOf(
  cfg: KarmaModelConfig,
  actionEntry: LedgerEntry,
  before: readonly LedgerEntry[],
  eventEntries: readonly LedgerEntry[],
): QTransition {
  const action = actionEntry.action ?? '';
  const weight = actionEntry.token ? (cfg.tokens[actionEntry.token]?.meritWeight ?? 0) : 0;
  return {
    role: roleFor(cfg, meritAt(cfg, before, actionEntry.at)),
    action,
    reward: weight * actionEntry.amount,
    nextRole: roleFor(cfg, meritAt(cfg, [...before, ...eventEntries], actionEntry.at)),
  };
}

/**
 * The table a replay of the whole ledger in seq order produces: what the stored table must equal when
 * every accepted action updated it exactly once, in ledger order.
 */
export function replayQTable(cfg: KarmaModelConfig, ledger: readonly LedgerEntry[]): QTable {
  const sorted = [...ledger].sort((a, b) => a.seq - b.seq);
  const byEvent = new Map<string, LedgerEntry[]>();
  for (const e of sorted) {
    const list = byEvent.get(e.eventId);
    if (list) list.push(e);
    else byEvent.set(e.eventId, [e]);
  }
  const byUser = new Map<string, LedgerEntry[]>();
  const table: QTable = new Map();
  for (const e of sorted) {
    const seen = byUser.get(e.userId) ?? [];
    if (e.kind === 'action' && e.action && cfg.actions[e.action]) {
      applyQUpdate(cfg, table, transitionOf(cfg, e, seen, byEvent.get(e.eventId) ?? [e]));
    }
    seen.push(e);
    byUser.set(e.userId, seen);
  }
  return table;
}

export interface Recommendation {
  /** The best-valued non-paap action from the user's role (ties: larger merit gain, then file order); null if none. */
  action: string | null;
  /** The role the user would reach by taking it now. */
  predictedRole: string;
}

/**
 * Greedy recommendation from the Q-table. The profile stays a deterministic function of ledger and table;
 * ε (q_learning.epsilon) is reported for clients that want to explore.
 */
export function recommend(
  cfg: KarmaModelConfig,
  userId: string,
  entries: readonly LedgerEntry[],
  asOf: number,
  table: QTable,
): Recommendation {
  const role = roleFor(cfg, meritAt(cfg, entries, asOf));
  let best: { action: string; q: number; reward: number; roleAfter: string } | null = null;
  for (const action of cfg.actionNames) {
    if (cfg.actions[action].paap) continue;
    const q = qValue(table, role, action);
    const d = decideAction(cfg, entries, { eventId: 'recommendation', userId, action, at: asOf, occurredAt: asOf });
    if (!best || q > best.q || (q === best.q && d.reward > best.reward)) best = { action, q, reward: d.reward, roleAfter: d.roleAfter };
  }
  return best ? { action: best.action, predictedRole: best.roleAfter } : { action: null, predictedRole: role };
}

/** A deep copy of the table, or of the rows of `roles` only (callers get values they may not mutate in place). */
export function copyQTable(table: QTable, roles?: string[]): QTable {
  const copy: QTable = new Map();
  for (const [role, row] of table) {
    if (!roles || roles.includes(role)) copy.set(role, new Map([...row].map(([a, c]) => [a, { ...c }])));
  }
  return copy;
}

/** Records one Q-update in the table: the new value, and one more update for that cell. */
export function recordQUpdate(table: QTable, role: string, action: string, value: number): void {
  let row = table.get(role);
  if (!row) table.set(role, (row = new Map()));
  row.set(action, { value, updates: (row.get(action)?.updates ?? 0) + 1 });
}
