import type { AppealView, AtonementPlanView, DeathView, KarmaProfile, KarmaUserStats, QTableView } from '@pancha/contracts';
import type { KarmaModelConfig } from '../config/karma-config';
import { foldLedger, lokaFor, PaapState } from './karma-model';
import type { LedgerEntry } from './ledger-entry';
import { QTable, qValue, recommend } from './q-learning';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The plan id users quote in atonement events: the paap entry's ledger seq. */
export function planIdOf(paapSeq: number): string {
  return String(paapSeq);
}

export function planView(cfg: KarmaModelConfig, s: PaapState): AtonementPlanView {
  const remaining = Object.fromEntries(cfg.atonementTypes.map((t) => [t, Math.max(0, s.required[t] - s.progress[t])]));
  return {
    plan_id: planIdOf(s.entry.seq),
    action: s.entry.action,
    paap_class: s.entry.paapClass ?? '',
    created_at: iso(s.entry.at),
    expires_at: iso(s.expiresAt),
    required: s.required,
    progress: s.progress,
    remaining,
  };
}

/** The profile of one user as of asOf: a fold of their ledger entries plus the shared Q-table. */
export function buildProfile(
  cfg: KarmaModelConfig,
  userId: string,
  entries: readonly LedgerEntry[],
  asOf: number,
  table: QTable,
): KarmaProfile {
  const visible = entries.filter((e) => e.at <= asOf);
  const fold = foldLedger(cfg, visible, asOf);
  const rec = recommend(cfg, userId, visible, asOf, table);
  const appeals: AppealView[] = visible
    .filter((e) => e.kind === 'appeal')
    .map((e) => ({ seq: e.seq, action: e.action ?? '', context: (e.details.context as AppealView['context']) ?? null, at: iso(e.at) }));
  const deaths = visible.filter((e) => e.kind === 'death');
  const last = deaths[deaths.length - 1];
  const lastDeath: DeathView | null = last
    ? { seq: last.seq, loka: String(last.details.loka), net_karma: Number(last.details.net_karma), at: iso(last.at) }
    : null;
  return {
    user_id: userId,
    as_of: iso(asOf),
    balances: fold.balances,
    merit: fold.merit,
    paap: fold.paap,
    paap_weighted: fold.paapWeighted,
    net_karma: fold.netKarma,
    role: fold.role,
    cheat_count_30d: fold.penaltyCounts.cheat ?? 0,
    loka: lokaFor(cfg, fold.netKarma),
    predicted_next_role: rec.predictedRole,
    recommended_action: rec.action,
    q_values: Object.fromEntries(cfg.actionNames.map((a) => [a, qValue(table, fold.role, a)])),
    atonement_plans: fold.plans.map((s) => planView(cfg, s)),
    atoned_count: fold.atonedCount,
    appeals,
    last_death: lastDeath,
  };
}

/** The profile plus activity counts (`GET /v1/stats/user/:user_id`). */
export function buildUserStats(
  cfg: KarmaModelConfig,
  userId: string,
  entries: readonly LedgerEntry[],
  asOf: number,
  table: QTable,
): KarmaUserStats {
  const visible = entries.filter((e) => e.at <= asOf);
  const actions: Record<string, number> = {};
  for (const e of visible) if (e.kind === 'action' && e.action) actions[e.action] = (actions[e.action] ?? 0) + 1;
  return {
    ...buildProfile(cfg, userId, visible, asOf, table),
    stats: {
      events: new Set(visible.map((e) => e.eventId)).size,
      ledger_entries: visible.length,
      actions,
      first_event_at: visible.length ? iso(visible[0].at) : null,
      last_event_at: visible.length ? iso(visible[visible.length - 1].at) : null,
    },
  };
}

export function qTableView(cfg: KarmaModelConfig, table: QTable): QTableView {
  const roles = cfg.roles.map((r) => r.name);
  const cells: QTableView['cells'] = [];
  let updates = 0;
  for (const [role, row] of table) {
    for (const [action, cell] of row) {
      cells.push({ role, action, value: cell.value, updates: cell.updates });
      updates += cell.updates;
    }
  }
  cells.sort((a, b) => a.role.localeCompare(b.role) || a.action.localeCompare(b.action));
  return {
    ...cfg.qLearning,
    roles,
    actions: cfg.actionNames,
    table: Object.fromEntries(roles.map((r) => [r, Object.fromEntries(cfg.actionNames.map((a) => [a, qValue(table, r, a)]))])),
    updates,
    cells,
  };
}
