import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/** The file shipped beside this module (copied to dist/ by the build). */
export const DEFAULT_KARMA_CONFIG_FILE = path.join(__dirname, 'karma.config.yaml');

export interface TokenRule {
  expiryDays: number;
  dailyDecay: number;
  meritWeight: number;
}

export interface PaapClassRule {
  expiryDays: number;
  weight: number;
}

export interface RoleRule {
  name: string;
  minMerit: number;
}

export interface ProgressivePenaltyRule {
  token: string;
  windowDays: number;
  amounts: number[];
}

export interface DailyCapRule {
  maxAmount: number;
  windowHours: number;
}

export interface ActionRule {
  name: string;
  reward: { token: string; amount: number } | null;
  cap: string | null;
  penalty: string | null;
  paap: string | null;
}

export interface LokaRule {
  name: string;
  /** null for the last loka, which takes every net karma below the others. */
  minNetKarma: number | null;
}

/** The validated model configuration; order of roles, actions and lokas is the file's order. */
export interface KarmaModelConfig {
  tokens: Record<string, TokenRule>;
  paapClasses: Record<string, PaapClassRule>;
  roles: RoleRule[];
  progressivePenalties: Record<string, ProgressivePenaltyRule>;
  dailyCaps: Record<string, DailyCapRule>;
  actions: Record<string, ActionRule>;
  actionNames: string[];
  /** Other name → action name (lower case): older clients' names for the same action. */
  actionAliases: Record<string, string>;
  /** Kinds of atonement (Jap, Tap, …), the same for every class. */
  atonementTypes: string[];
  atonementPlans: Record<string, Record<string, number>>;
  lokas: LokaRule[];
  qLearning: { alpha: number; gamma: number; epsilon: number };
  maxFutureSkewSeconds: number;
}

/** A configuration that cannot be used; the message names the file and every bad key. */
export class KarmaConfigError extends Error {
  constructor(source: string, problems: string[]) {
    super(`Invalid Karma configuration ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'KarmaConfigError';
  }
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Collects problems with their key paths instead of stopping at the first one. */
class Checker {
  readonly problems: string[] = [];

  fail(key: string, message: string): void {
    this.problems.push(`${key}: ${message}`);
  }

  object(value: unknown, key: string): Record<string, unknown> | null {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    this.fail(key, value === undefined ? 'is required' : 'must be a mapping');
    return null;
  }

  array(value: unknown, key: string): unknown[] | null {
    if (Array.isArray(value)) return value;
    this.fail(key, value === undefined ? 'is required' : 'must be a list');
    return null;
  }

  name(value: unknown, key: string): string | null {
    if (typeof value === 'string' && NAME.test(value)) return value;
    this.fail(key, 'must be a name (letters, digits, _; starting with a letter)');
    return null;
  }

  number(value: unknown, key: string, opts: { min?: number; max?: number; maxExclusive?: boolean; integer?: boolean; positive?: boolean } = {}): number {
    const { min = 0, max, maxExclusive = false, integer = false, positive = false } = opts;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.fail(key, value === undefined ? 'is required' : 'must be a number');
      return NaN;
    }
    if (integer && !Number.isInteger(value)) this.fail(key, 'must be an integer');
    if (positive && value <= 0) this.fail(key, 'must be greater than 0');
    else if (value < min) this.fail(key, min === 0 ? 'must not be negative' : `must be at least ${min}`);
    if (max !== undefined && (maxExclusive ? value >= max : value > max)) {
      this.fail(key, `must be ${maxExclusive ? 'less than' : 'at most'} ${max}`);
    }
    return value;
  }

  unknownKeys(obj: Record<string, unknown>, key: string, allowed: string[]): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) this.fail(key ? `${key}.${k}` : k, `unknown key (allowed: ${allowed.join(', ')})`);
    }
  }
}

/** Validates a parsed configuration document; throws KarmaConfigError naming every bad key. */
export function validateKarmaConfig(raw: unknown, source = '(inline)'): KarmaModelConfig {
  const c = new Checker();
  const root = c.object(raw, '(root)') ?? {};
  c.unknownKeys(root, '', [
    'tokens', 'paap_classes', 'roles', 'progressive_penalties', 'daily_caps', 'actions', 'action_aliases',
    'atonement_plans', 'lokas', 'q_learning', 'max_future_skew_seconds',
  ]);

  const tokens = lookupTable<TokenRule>();
  for (const [name, v] of Object.entries(c.object(root.tokens, 'tokens') ?? {})) {
    const key = `tokens.${name}`;
    if (!c.name(name, key)) continue;
    const t = c.object(v, key);
    if (!t) continue;
    c.unknownKeys(t, key, ['expiry_days', 'daily_decay', 'merit_weight']);
    tokens[name] = {
      expiryDays: c.number(t.expiry_days, `${key}.expiry_days`, { positive: true }),
      dailyDecay: c.number(t.daily_decay, `${key}.daily_decay`, { max: 1, maxExclusive: true }),
      meritWeight: c.number(t.merit_weight, `${key}.merit_weight`),
    };
  }
  if (root.tokens !== undefined && Object.keys(tokens).length === 0) c.fail('tokens', 'must define at least one token');

  const paapClasses = lookupTable<PaapClassRule>();
  for (const [name, v] of Object.entries(c.object(root.paap_classes, 'paap_classes') ?? {})) {
    const key = `paap_classes.${name}`;
    if (!c.name(name, key)) continue;
    const p = c.object(v, key);
    if (!p) continue;
    c.unknownKeys(p, key, ['expiry_days', 'weight']);
    paapClasses[name] = {
      expiryDays: c.number(p.expiry_days, `${key}.expiry_days`, { positive: true }),
      weight: c.number(p.weight, `${key}.weight`),
    };
  }

  const roles: RoleRule[] = [];
  (c.array(root.roles, 'roles') ?? []).forEach((v, i) => {
    const key = `roles[${i}]`;
    const r = c.object(v, key);
    if (!r) return;
    c.unknownKeys(r, key, ['name', 'min_merit']);
    const name = c.name(r.name, `${key}.name`);
    const minMerit = c.number(r.min_merit, `${key}.min_merit`, { min: -Infinity });
    if (!name) return;
    if (roles.some((x) => x.name === name)) c.fail(`${key}.name`, `duplicate role ${name}`);
    const prev = roles[roles.length - 1];
    if (prev && !(minMerit > prev.minMerit)) {
      c.fail(`${key}.min_merit`, `roles must be ordered by threshold: ${minMerit} is not above ${prev.name}'s ${prev.minMerit}`);
    }
    roles.push({ name, minMerit });
  });
  if (Array.isArray(root.roles) && roles.length === 0) c.fail('roles', 'must define at least one role');

  const progressivePenalties = lookupTable<ProgressivePenaltyRule>();
  for (const [name, v] of Object.entries(c.object(root.progressive_penalties ?? {}, 'progressive_penalties') ?? {})) {
    const key = `progressive_penalties.${name}`;
    if (!c.name(name, key)) continue;
    const p = c.object(v, key);
    if (!p) continue;
    c.unknownKeys(p, key, ['token', 'window_days', 'amounts']);
    const token = typeof p.token === 'string' ? p.token : '';
    if (!tokens[token]) c.fail(`${key}.token`, `must be one of the tokens (${Object.keys(tokens).join(', ')})`);
    const amounts = (c.array(p.amounts, `${key}.amounts`) ?? []).map((a, i) => c.number(a, `${key}.amounts[${i}]`));
    if (Array.isArray(p.amounts) && amounts.length === 0) c.fail(`${key}.amounts`, 'must not be empty');
    progressivePenalties[name] = { token, windowDays: c.number(p.window_days, `${key}.window_days`, { positive: true }), amounts };
  }

  const dailyCaps = lookupTable<DailyCapRule>();
  for (const [name, v] of Object.entries(c.object(root.daily_caps ?? {}, 'daily_caps') ?? {})) {
    const key = `daily_caps.${name}`;
    if (!c.name(name, key)) continue;
    const d = c.object(v, key);
    if (!d) continue;
    c.unknownKeys(d, key, ['max_amount', 'window_hours']);
    dailyCaps[name] = {
      maxAmount: c.number(d.max_amount, `${key}.max_amount`),
      windowHours: c.number(d.window_hours, `${key}.window_hours`, { positive: true }),
    };
  }

  const actions = lookupTable<ActionRule>();
  for (const [name, v] of Object.entries(c.object(root.actions, 'actions') ?? {})) {
    const key = `actions.${name}`;
    if (!c.name(name, key)) continue;
    if (name !== name.toLowerCase()) c.fail(key, 'action names must be lower case (events are matched case-insensitively)');
    const a = c.object(v, key);
    if (!a) continue;
    c.unknownKeys(a, key, ['reward', 'cap', 'penalty', 'paap']);
    let reward: ActionRule['reward'] = null;
    if (a.reward !== undefined) {
      const r = c.object(a.reward, `${key}.reward`);
      if (r) {
        c.unknownKeys(r, `${key}.reward`, ['token', 'amount']);
        const token = typeof r.token === 'string' ? r.token : '';
        if (!tokens[token]) c.fail(`${key}.reward.token`, `must be one of the tokens (${Object.keys(tokens).join(', ')})`);
        reward = { token, amount: c.number(r.amount, `${key}.reward.amount`) };
      }
    }
    const cap = a.cap === undefined ? null : String(a.cap);
    if (cap !== null && !dailyCaps[cap]) c.fail(`${key}.cap`, `must be one of daily_caps (${Object.keys(dailyCaps).join(', ') || 'none defined'})`);
    if (cap !== null && !reward) c.fail(`${key}.cap`, 'only a reward can be capped');
    const penalty = a.penalty === undefined ? null : String(a.penalty);
    if (penalty !== null && !progressivePenalties[penalty]) {
      c.fail(`${key}.penalty`, `must be one of progressive_penalties (${Object.keys(progressivePenalties).join(', ') || 'none defined'})`);
    }
    const paap = a.paap === undefined ? null : String(a.paap);
    if (paap !== null && !paapClasses[paap]) c.fail(`${key}.paap`, `must be one of the paap classes (${Object.keys(paapClasses).join(', ')})`);
    if (reward && penalty) c.fail(key, 'an action has a reward or a penalty, not both');
    if (!reward && !penalty && !paap) c.fail(key, 'every action needs a reward, a penalty or a paap class');
    actions[name] = { name, reward, cap, penalty, paap };
  }
  if (root.actions !== undefined && Object.keys(actions).length === 0) c.fail('actions', 'must define at least one action');

  const actionAliases = lookupTable<string>();
  for (const [alias, target] of Object.entries(c.object(root.action_aliases ?? {}, 'action_aliases') ?? {})) {
    const key = `action_aliases.${alias}`;
    if (!c.name(alias, key)) continue;
    if (alias !== alias.toLowerCase()) c.fail(key, 'aliases must be lower case (events are matched case-insensitively)');
    if (actions[alias]) c.fail(key, `${alias} is an action itself and cannot also be an alias`);
    if (typeof target !== 'string' || !actions[target]) c.fail(key, 'must name one of the actions');
    else actionAliases[alias] = target;
  }

  const atonementPlans = lookupTable<Record<string, number>>();
  let atonementTypes: string[] = [];
  const plans = c.object(root.atonement_plans, 'atonement_plans') ?? {};
  for (const cls of Object.keys(paapClasses)) {
    const key = `atonement_plans.${cls}`;
    const p = plans[cls] === undefined ? (c.fail(key, 'every paap class needs a plan'), null) : c.object(plans[cls], key);
    if (!p) continue;
    const kinds = Object.keys(p);
    if (kinds.length === 0) c.fail(key, 'must name at least one kind of atonement');
    if (atonementTypes.length === 0) atonementTypes = kinds;
    else if (kinds.length !== atonementTypes.length || kinds.some((k) => !atonementTypes.includes(k))) {
      c.fail(key, `every plan must have the same kinds (${atonementTypes.join(', ')})`);
    }
    atonementPlans[cls] = Object.fromEntries(kinds.map((k) => [k, c.number(p[k], `${key}.${k}`)]));
  }
  for (const cls of Object.keys(plans)) {
    if (!paapClasses[cls]) c.fail(`atonement_plans.${cls}`, 'is not a paap class');
  }
  const lowerTypes = atonementTypes.map((t) => t.toLowerCase());
  if (new Set(lowerTypes).size !== lowerTypes.length) c.fail('atonement_plans', 'kinds must differ in more than letter case');

  const lokas: LokaRule[] = [];
  const rawLokas = c.array(root.lokas, 'lokas') ?? [];
  rawLokas.forEach((v, i) => {
    const key = `lokas[${i}]`;
    const l = c.object(v, key);
    if (!l) return;
    c.unknownKeys(l, key, ['name', 'min_net_karma']);
    const name = c.name(l.name, `${key}.name`);
    const last = i === rawLokas.length - 1;
    let minNetKarma: number | null = null;
    if (last) {
      if (l.min_net_karma !== undefined) c.fail(`${key}.min_net_karma`, 'the last loka takes everything below the others and has no minimum');
    } else {
      minNetKarma = c.number(l.min_net_karma, `${key}.min_net_karma`, { min: -Infinity });
      const prev = lokas[lokas.length - 1];
      if (prev && prev.minNetKarma !== null && !(minNetKarma < prev.minNetKarma)) {
        c.fail(`${key}.min_net_karma`, `lokas must be ordered from the highest threshold down: ${minNetKarma} is not below ${prev.name}'s ${prev.minNetKarma}`);
      }
    }
    if (name) lokas.push({ name, minNetKarma });
  });
  if (Array.isArray(root.lokas) && rawLokas.length === 0) c.fail('lokas', 'must define at least one loka');

  const q = c.object(root.q_learning, 'q_learning') ?? {};
  c.unknownKeys(q, 'q_learning', ['alpha', 'gamma', 'epsilon']);
  const qLearning = {
    alpha: c.number(q.alpha, 'q_learning.alpha', { max: 1 }),
    gamma: c.number(q.gamma, 'q_learning.gamma', { max: 1 }),
    epsilon: c.number(q.epsilon ?? 0, 'q_learning.epsilon', { max: 1 }),
  };
  const maxFutureSkewSeconds = c.number(root.max_future_skew_seconds ?? 300, 'max_future_skew_seconds');

  if (c.problems.length) throw new KarmaConfigError(source, c.problems);
  return {
    tokens,
    paapClasses,
    roles,
    progressivePenalties,
    dailyCaps,
    actions,
    actionNames: Object.keys(actions),
    actionAliases,
    atonementTypes,
    atonementPlans,
    lokas,
    qLearning,
    maxFutureSkewSeconds,
  };
}

/** Reads, parses and validates the model file once at start. */
export function loadKarmaConfig(file: string = DEFAULT_KARMA_CONFIG_FILE): KarmaModelConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new KarmaConfigError(file, [`cannot be read: ${(error as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw new KarmaConfigError(file, [`is not valid YAML: ${(error as Error).message}`]);
  }
  return validateKarmaConfig(doc, file);
}

/**
 * A name → rule table with no prototype: a request naming "constructor" or "__proto__" finds nothing,
 * instead of an inherited member that passes as a known action.
 */
function lookupTable<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
