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

/** Breakpoints walked at most by nextRoleChangeAt before it settles for a moment to look again. */
export const ROLE_CHANGE_SEARCH_STEPS = 10_000;

/**
 * The first moment after `from` at which the user's role, as derived from these entries, may differ from their role
 * at `from`; null when time alone can never change it (no future step of merit can cross a role threshold).
 *
 * Merit is a step function of time: a token entry's value changes only at a whole day since it was recorded (decay)
 * and at its expiry (to 0), and an entry recorded after `from` starts counting at its `at`. The walk visits those
 * moments in order, keeping merit up to date one entry at a time, and answers the first one whose role differs. It
 * stops early when every value still to come (each entry only shrinks towards 0; a future one adds its amount) keeps
 * merit inside the current role's band. The answer is exact, or earlier, never later: a step whose merit comes within
 * rounding distance of a threshold is checked with meritAt itself, and after `maxSteps` breakpoints (a user with many
 * decaying grants) the walk answers the next breakpoint, where whoever looks again starts from.
 */
export function nextRoleChangeAt(cfg: KarmaModelConfig, entries: readonly LedgerEntry[], from: number, maxSteps = ROLE_CHANGE_SEARCH_STEPS): number | null {
  const role = roleFor(cfg, meritAt(cfg, entries, from));
  const thresholds = cfg.roles.map((r) => r.minMerit);
  interface Item {
    entry: LedgerEntry;
    weight: number;
    expiresAt: number;
    decays: boolean;
    /** weight × value as of the last breakpoint visited. */
    contribution: number;
  }
  const items: Item[] = [];
  let merit = 0;
  let scale = 1;
  /** Σ of the positive contributions (they can all fall to 0) and of |the negative and future ones| (they can rise). */
  let canFall = 0;
  let canRise = 0;
  const queue = new MinHeap<Item>();
  const nextBreak = (item: Item, after: number): number | null => {
    if (after < item.entry.at) return item.entry.at;
    if (after >= item.expiresAt) return null;
    if (!item.decays) return item.expiresAt;
    const day = item.entry.at + (Math.floor((after - item.entry.at) / DAY_MS) + 1) * DAY_MS;
    return Math.min(day, item.expiresAt);
  };
  for (const entry of entries) {
    const rule = entry.kind === 'action' && entry.token ? cfg.tokens[entry.token] : undefined;
    if (!rule || entry.amount === 0 || rule.meritWeight === 0) continue;
    const item: Item = { entry, weight: rule.meritWeight, expiresAt: entry.at + rule.expiryDays * DAY_MS, decays: rule.dailyDecay !== 0, contribution: 0 };
    item.contribution = rule.meritWeight * tokenValue(cfg, entry, from);
    merit += item.contribution;
    scale += Math.abs(rule.meritWeight * entry.amount);
    const future = rule.meritWeight * entry.amount;
    if (item.contribution > 0) canFall += item.contribution;
    else canRise -= item.contribution;
    if (from < entry.at) {
      if (future > 0) canRise += future;
      else canFall -= future;
    }
    const at = nextBreak(item, from);
    if (at !== null) queue.push(at, item);
    items.push(item);
  }
  const tolerance = 1e-9 * scale;
  const bandHolds = () => roleFor(cfg, merit - canFall - tolerance) === role && roleFor(cfg, merit + canRise + tolerance) === role;
  let steps = 0;
  while (queue.size > 0) {
    if (bandHolds()) return null;
    if (steps >= maxSteps) return queue.peekKey();
    const at = queue.peekKey() as number;
    while (queue.size > 0 && queue.peekKey() === at) {
      const item = queue.pop() as Item;
      steps += 1;
      const before = item.contribution;
      const after = item.weight * tokenValue(cfg, item.entry, at);
      item.contribution = after;
      merit += after - before;
      if (at === item.entry.at) {
        // A future entry starts counting: it no longer rises, its value can now fall back to 0.
        if (after > 0) {
          canRise -= after;
          canFall += after;
        } else {
          canFall += after;
          canRise -= after;
        }
      } else if (before > 0) canFall -= before - after;
      else canRise -= after - before;
      const next = nextBreak(item, at);
      if (next !== null) queue.push(next, item);
    }
    const near = thresholds.some((t) => Math.abs(merit - t) <= tolerance);
    if (near || roleFor(cfg, merit) !== role) {
      // Rounding could put the running sum on the wrong side of a threshold: the model's own sum decides.
      merit = meritAt(cfg, entries, at);
      if (roleFor(cfg, merit) !== role) return at;
    }
  }
  return null;
}

/** A binary min-heap of values by a numeric key. */
class MinHeap<T> {
  private readonly keys: number[] = [];
  private readonly values: T[] = [];

  get size(): number {
    return this.keys.length;
  }

  peekKey(): number | null {
    return this.keys.length ? this.keys[0] : null;
  }

  push(key: number, value: T): void {
    this.keys.push(key);
    this.values.push(value);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent] <= key) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): T | undefined {
    if (this.keys.length === 0) return undefined;
    const top = this.values[0];
    const lastKey = this.keys.pop() as number;
    const lastValue = this.values.pop() as T;
    if (this.keys.length > 0) {
      this.keys[0] = lastKey;
      this.values[0] = lastValue;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.keys.length && this.keys[l] < this.keys[m]) m = l;
        if (r < this.keys.length && this.keys[r] < this.keys[m]) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private swap(a: number, b: number): void {
    [this.keys[a], this.keys[b]] = [this.keys[b], this.keys[a]];
    [this.values[a], this.values[b]] = [this.values[b], this.values[a]];
  }
}
