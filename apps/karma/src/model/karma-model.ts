import type { ActionRule, KarmaModelConfig } from '../config/karma-config';
import { DAY_MS, HOUR_MS, LedgerEntry, NewLedgerEntry } from './ledger-entry';

/*
 * The behavioural model as pure functions: configuration + a user's ledger entries + a moment → numbers.
 * No clock, no database: the service and the tests call the same functions.
 *
 * Time rules (documented in apps/karma/README.md):
 * - days since a grant are whole days: floor((asOf − at) / 1 day);
 * - a grant or paap entry counts while asOf < at + expiry_days; from that instant on it is 0;
 * - windows ("cheats in the last 30 days", caps over 24 h) hold the entries with asOf − window < at ≤ asOf;
 * - entries recorded after asOf do not exist yet.
 */

function visible(entries: readonly LedgerEntry[], asOf: number): LedgerEntry[] {
  return entries.filter((e) => e.at <= asOf);
}

/** A token entry's value at asOf: amount × (1 − decay)^days, 0 once expired (or for an unknown token). */
export function tokenValue(cfg: KarmaModelConfig, entry: Pick<LedgerEntry, 'token' | 'amount' | 'at'>, asOf: number): number {
  const rule = entry.token ? cfg.tokens[entry.token] : undefined;
  if (!rule || asOf < entry.at) return 0;
  const elapsed = asOf - entry.at;
  if (elapsed >= rule.expiryDays * DAY_MS) return 0;
  const days = Math.floor(elapsed / DAY_MS);
  return rule.dailyDecay === 0 ? entry.amount : entry.amount * Math.pow(1 - rule.dailyDecay, days);
}

/** Balance of every configured token as of asOf. */
export function balancesAt(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], asOf: number): Record<string, number> {
  const balances: Record<string, number> = Object.fromEntries(Object.keys(cfg.tokens).map((t) => [t, 0]));
  for (const e of entries) {
    if (e.kind !== 'action' || !e.token || !(e.token in balances) || e.at > asOf) continue;
    balances[e.token] += tokenValue(cfg, e, asOf);
  }
  return balances;
}

/** merit = Σ merit_weight × balance (Dharma × 1 + Seva × 1.2 + Punya × 3 by default). */
export function meritOf(cfg: KarmaModelConfig, balances: Record<string, number>): number {
  let merit = 0;
  for (const [token, rule] of Object.entries(cfg.tokens)) merit += rule.meritWeight * (balances[token] ?? 0);
  return merit;
}

export function meritAt(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], asOf: number): number {
  return meritOf(cfg, balancesAt(cfg, entries, asOf));
}

/** The highest role whose threshold the merit reaches; below every threshold, the first role. */
export function roleFor(cfg: KarmaModelConfig, merit: number): string {
  let role = cfg.roles[0].name;
  for (const r of cfg.roles) if (merit >= r.minMerit) role = r.name;
  return role;
}

/** The first loka (highest first) whose minimum the net karma reaches; the last one takes the rest. */
export function lokaFor(cfg: KarmaModelConfig, netKarma: number): string {
  for (const l of cfg.lokas) if (l.minNetKarma === null || netKarma >= l.minNetKarma) return l.name;
  return cfg.lokas[cfg.lokas.length - 1].name;
}

function actionRule(cfg: KarmaModelConfig, action: string | null): ActionRule | undefined {
  return action ? cfg.actions[action] : undefined;
}

/** How many actions under this progressive penalty were recorded in its window ending at asOf. */
export function penaltyCount(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], penalty: string, asOf: number): number {
  const rule = cfg.progressivePenalties[penalty];
  if (!rule) return 0;
  const from = asOf - rule.windowDays * DAY_MS;
  return entries.filter((e) => e.kind === 'action' && e.at > from && e.at <= asOf && actionRule(cfg, e.action)?.penalty === penalty).length;
}

/** Token amount already granted under a cap in its window ending at asOf. */
export function capUsed(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], cap: string, asOf: number): number {
  const rule = cfg.dailyCaps[cap];
  if (!rule) return 0;
  const from = asOf - rule.windowHours * HOUR_MS;
  let used = 0;
  for (const e of entries) {
    if (e.kind === 'action' && e.at > from && e.at <= asOf && actionRule(cfg, e.action)?.cap === cap) used += e.amount;
  }
  return used;
}

export interface PaapState {
  entry: LedgerEntry;
  expiresAt: number;
  required: Record<string, number>;
  progress: Record<string, number>;
  /** When the plan was met in full; null while it is not. */
  atonedAt: number | null;
  expired: boolean;
  /** Neither atoned nor expired: it weighs on net karma and its plan can be worked off. */
  open: boolean;
}

/** Every paap entry with its plan and progress as of asOf. */
export function paapStates(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], asOf: number): PaapState[] {
  const seen = visible(entries, asOf);
  const states = new Map<number, PaapState>();
  for (const e of seen) {
    if (e.kind === 'paap' && e.paapClass && cfg.paapClasses[e.paapClass]) {
      const expiresAt = e.at + cfg.paapClasses[e.paapClass].expiryDays * DAY_MS;
      const required = { ...cfg.atonementPlans[e.paapClass] };
      const progress = Object.fromEntries(cfg.atonementTypes.map((t) => [t, 0]));
      states.set(e.seq, { entry: e, expiresAt, required, progress, atonedAt: null, expired: false, open: false });
    } else if (e.kind === 'atonement' && e.refSeq !== null && e.token) {
      const s = states.get(e.refSeq);
      // Progress counts only while the plan is open: nothing is owed once atoned or expired.
      if (!s || s.atonedAt !== null || e.at >= s.expiresAt || !(e.token in s.progress)) continue;
      s.progress[e.token] += e.amount;
      if (cfg.atonementTypes.every((t) => s.progress[t] >= s.required[t])) s.atonedAt = e.at;
    }
  }
  for (const s of states.values()) {
    s.expired = asOf >= s.expiresAt;
    s.open = s.atonedAt === null && !s.expired;
  }
  return [...states.values()];
}

export interface LedgerFold {
  balances: Record<string, number>;
  merit: number;
  paap: Record<string, number>;
  paapWeighted: number;
  netKarma: number;
  role: string;
  penaltyCounts: Record<string, number>;
  plans: PaapState[];
  atonedCount: number;
}

/** The numbers of a user as of asOf, from their ledger entries alone. */
export function foldLedger(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], asOf: number): LedgerFold {
  const balances = balancesAt(cfg, entries, asOf);
  const merit = meritOf(cfg, balances);
  const states = paapStates(cfg, entries, asOf);
  const paap: Record<string, number> = Object.fromEntries(Object.keys(cfg.paapClasses).map((c) => [c, 0]));
  for (const s of states) if (s.open && s.entry.paapClass) paap[s.entry.paapClass] += 1;
  let paapWeighted = 0;
  for (const [cls, rule] of Object.entries(cfg.paapClasses)) paapWeighted += rule.weight * paap[cls];
  const penaltyCounts = Object.fromEntries(Object.keys(cfg.progressivePenalties).map((p) => [p, penaltyCount(cfg, entries, p, asOf)]));
  return {
    balances,
    merit,
    paap,
    paapWeighted,
    netKarma: merit - paapWeighted,
    role: roleFor(cfg, merit),
    penaltyCounts,
    plans: states.filter((s) => s.open),
    atonedCount: states.filter((s) => s.atonedAt !== null).length,
  };
}

export interface ActionInput {
  eventId: string;
  userId: string;
  /** A configured action name. */
  action: string;
  at: number;
  occurredAt: number;
  details?: Record<string, unknown>;
}

export interface ActionDecision {
  /** The action entry, then the paap entry when the action carries one. */
  entries: NewLedgerEntry[];
  grant: { token: string; amount: number } | null;
  capped: boolean;
  /** r of the Q-update: the merit change the action causes at the moment it is recorded. */
  reward: number;
  /** Occurrences under the action's progressive penalty in its window, this one included (0 if none). */
  penaltyCount: number;
  meritBefore: number;
  meritAfter: number;
  roleBefore: string;
  roleAfter: string;
}

/**
 * What recording `action` for a user at `at` appends, given the user's ledger so far. A reward is cut to
 * what its cap leaves; a progressive penalty costs the amount for the n-th occurrence in its window.
 */
export function decideAction(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], input: ActionInput): ActionDecision {
  const rule = cfg.actions[input.action];
  if (!rule) throw new Error(`unknown action ${input.action}`);
  let grant: ActionDecision['grant'] = null;
  let capped = false;
  let count = 0;
  if (rule.reward) {
    let amount = rule.reward.amount;
    if (rule.cap) {
      const left = Math.max(0, cfg.dailyCaps[rule.cap].maxAmount - capUsed(cfg, entries, rule.cap, input.at));
      if (amount > left) {
        amount = left;
        capped = true;
      }
    }
    grant = { token: rule.reward.token, amount };
  } else if (rule.penalty) {
    const p = cfg.progressivePenalties[rule.penalty];
    count = penaltyCount(cfg, entries, rule.penalty, input.at) + 1;
    grant = { token: p.token, amount: -p.amounts[Math.min(count, p.amounts.length) - 1] };
  }
  const base = { eventId: input.eventId, userId: input.userId, action: input.action, refSeq: null, at: input.at, occurredAt: input.occurredAt };
  const actionEntry: NewLedgerEntry = {
    ...base,
    kind: 'action',
    token: grant?.token ?? null,
    amount: grant?.amount ?? 0,
    paapClass: null,
    details: { ...(input.details ?? {}), ...(capped ? { capped: true } : {}), ...(count ? { penalty_count: count } : {}) },
  };
  const newEntries: NewLedgerEntry[] = [actionEntry];
  if (rule.paap) newEntries.push({ ...base, kind: 'paap', token: null, amount: 1, paapClass: rule.paap, details: {} });

  const reward = grant ? cfg.tokens[grant.token].meritWeight * grant.amount : 0;
  const meritBefore = meritAt(cfg, entries, input.at);
  const nextSeq = entries.reduce((m, e) => Math.max(m, e.seq), 0) + 1;
  const after = [...entries, ...newEntries.map((e, i) => ({ ...e, seq: nextSeq + i }))];
  const meritAfter = meritAt(cfg, after, input.at);
  return {
    entries: newEntries,
    grant,
    capped,
    reward,
    penaltyCount: count,
    meritBefore,
    meritAfter,
    roleBefore: roleFor(cfg, meritBefore),
    roleAfter: roleFor(cfg, meritAfter),
  };
}
