import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ACTION_TYPES, type ActionType, Decision, isActionType } from '@pancha/contracts';
import { parse as parseYaml } from 'yaml';
import { payloadFieldProblems } from './action-payload';
import { TEMPLATE_VARIABLES, templateVariables } from './template';

/** Shipped beside the code (copied to dist by the build); CORE_RULES_FILE points elsewhere. */
export const DEFAULT_RULES_FILE = path.join(__dirname, 'rules.yaml');

export interface Rule {
  name: string;
  description?: string;
  /** Case-insensitive, `.` matches newlines; tested against the input with each whitespace run collapsed to one character (normalizeCommand). Null only for the default. */
  pattern: RegExp | null;
  decision: Decision;
  action_type: ActionType | null;
  /** Field → template. */
  payload: Record<string, string> | null;
  /** A workflow decision that starts a versioned workflow run instead of one action (`workflow: name[@range]`). */
  workflow: { name: string; version?: string; inputs: Record<string, string> } | null;
}

export interface RuleSet {
  source: string;
  /** In file order: the first that matches decides. */
  rules: Rule[];
  /** What decides when no rule matches. */
  fallback: Rule;
  /** The action types the rules can produce: the only ones an LLM may choose. */
  actionTypes: ActionType[];
  /** The workflows the rules can start: the only ones an LLM may choose. */
  workflows: string[];
}

/** A rule file that cannot be used; the message names the file and every bad rule. */
export class RuleFileError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid rule file ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'RuleFileError';
  }
}

const RULE_KEYS = new Set(['name', 'description', 'match', 'decision', 'action_type', 'payload', 'workflow', 'inputs']);
const WORKFLOW_REF = /^([a-z0-9][a-z0-9-]{0,63})(?:@(\S{1,64}))?$/;
const DEFAULT_KEYS = new Set(['description', 'decision', 'action_type', 'payload']);
const NAMED_GROUP = /\(\?<([A-Za-z_$][\w$]*)>/g;
const DEFAULT_NAME = 'default';

export function loadRuleSet(file: string = DEFAULT_RULES_FILE): RuleSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RuleFileError(file, [`cannot be read: ${(error as Error).message}`]);
  }
  return parseRuleSet(text, file);
}

/** Validates everything up front, so a bad file stops the service at start and never misroutes a task. */
export function parseRuleSet(text: string, source: string): RuleSet {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new RuleFileError(source, [`is not valid YAML: ${(error as Error).message}`]);
  }
  if (!isRecord(doc)) throw new RuleFileError(source, ['must be a mapping with `rules` (a list) and optionally `default`']);

  const problems: string[] = [];
  if (doc.version !== undefined && doc.version !== 1) problems.push(`version ${JSON.stringify(doc.version)} is not supported (use 1)`);
  for (const key of Object.keys(doc)) {
    if (!['version', 'default', 'rules'].includes(key)) problems.push(`unknown top-level key "${key}"`);
  }
  if (!Array.isArray(doc.rules) || doc.rules.length === 0) {
    problems.push('`rules` must be a non-empty list');
  }

  const rules: Rule[] = [];
  const seen = new Set<string>();
  (Array.isArray(doc.rules) ? doc.rules : []).forEach((raw: unknown, index: number) => {
    const label = isRecord(raw) && typeof raw.name === 'string' && raw.name.trim() ? `rule "${raw.name}" (#${index + 1})` : `rule #${index + 1}`;
    const rule = parseRule(raw, false, (p) => problems.push(`${label}: ${p}`));
    if (!rule) return;
    if (seen.has(rule.name)) problems.push(`${label}: name is used by an earlier rule`);
    seen.add(rule.name);
    rules.push(rule);
  });

  let fallback: Rule | null = {
    name: DEFAULT_NAME,
    pattern: null,
    decision: Decision.Respond,
    action_type: null,
    payload: null,
    workflow: null,
  };
  if (doc.default !== undefined) {
    fallback = parseRule(doc.default, true, (p) => problems.push(`default: ${p}`));
  }

  if (problems.length || !fallback) throw new RuleFileError(source, problems);
  const actionTypes = ACTION_TYPES.filter((t) => [...rules, fallback].some((r) => r.action_type === t));
  const workflows = [...new Set([...rules, fallback].flatMap((r) => (r.workflow ? [r.workflow.name] : [])))];
  return { source, rules, fallback, actionTypes, workflows };
}

function parseRule(raw: unknown, isDefault: boolean, report: (problem: string) => void): Rule | null {
  if (!isRecord(raw)) {
    report('must be a mapping');
    return null;
  }
  let ok = true;
  const fail = (problem: string): void => {
    ok = false;
    report(problem);
  };
  for (const key of Object.keys(raw)) {
    if (!(isDefault ? DEFAULT_KEYS : RULE_KEYS).has(key)) fail(`unknown key "${key}"`);
  }

  const name = isDefault ? DEFAULT_NAME : raw.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    fail('name must be 1-64 letters, digits, ".", "_" or "-"');
  }

  let pattern: RegExp | null = null;
  const groups = new Set<string>();
  if (!isDefault) {
    if (typeof raw.match !== 'string' || raw.match.trim() === '') {
      fail('match must be a non-empty regular expression');
    } else {
      try {
        pattern = new RegExp(raw.match, 'is');
        for (const m of raw.match.matchAll(NAMED_GROUP)) groups.add(m[1]);
      } catch (error) {
        fail(`match is not a valid regular expression: ${(error as Error).message}`);
      }
    }
  }

  const decision = raw.decision;
  if (!Object.values(Decision).includes(decision as Decision)) {
    fail(`decision must be one of: ${Object.values(Decision).join(', ')}`);
  }

  let actionType: ActionType | null = null;
  let payload: Record<string, string> | null = null;
  let workflow: Rule['workflow'] = null;
  const checkTemplates = (where: string, raw: unknown): Record<string, string> | null => {
    if (!isRecord(raw)) {
      fail(`${where} must be a mapping of field: template`);
      return null;
    }
    const out: Record<string, string> = {};
    for (const [field, template] of Object.entries(raw)) {
      if (typeof template !== 'string') {
        fail(`${where}.${field} must be a string template`);
        continue;
      }
      const parsed = templateVariables(template);
      if ('error' in parsed) {
        fail(`${where}.${field}: ${parsed.error}`);
        continue;
      }
      for (const variable of parsed.variables) {
        const known = variable.startsWith('groups.')
          ? groups.has(variable.slice('groups.'.length))
          : (TEMPLATE_VARIABLES as readonly string[]).includes(variable);
        if (!known) {
          fail(
            variable.startsWith('groups.')
              ? `${where}.${field} uses {{ ${variable} }} but match has no named group "${variable.slice(7)}"`
              : `${where}.${field} uses unknown variable {{ ${variable} }} (known: ${TEMPLATE_VARIABLES.join(', ')}, groups.<name>)`,
          );
        }
      }
      out[field] = template;
    }
    return out;
  };
  if (decision === Decision.Workflow && raw.workflow !== undefined) {
    // A versioned workflow: its inputs are checked against the workflow's schema when a run starts.
    if (raw.action_type !== undefined || raw.payload !== undefined) fail('a rule names either workflow (+ inputs) or action_type (+ payload), not both');
    const ref = typeof raw.workflow === 'string' ? WORKFLOW_REF.exec(raw.workflow.trim()) : null;
    if (!ref) fail('workflow must be a workflow name, optionally @version or @range (e.g. onboard-learner@^1)');
    const inputs = raw.inputs === undefined ? {} : checkTemplates('inputs', raw.inputs);
    if (ref && inputs) workflow = { name: ref[1], ...(ref[2] ? { version: ref[2] } : {}), inputs };
  } else if (decision === Decision.Workflow) {
    if (!isActionType(raw.action_type)) {
      fail(`action_type must be one of: ${ACTION_TYPES.join(', ')} (a workflow needs one, or a workflow: name)`);
    } else {
      actionType = raw.action_type;
    }
    if (raw.inputs !== undefined) fail('inputs are only for a rule that names a workflow');
    if (!isRecord(raw.payload)) {
      fail('payload must be a mapping of field: template (a workflow needs one)');
    } else {
      payload = checkTemplates('payload', raw.payload);
      if (actionType && payload) for (const p of payloadFieldProblems(actionType, Object.keys(payload))) fail(p);
    }
  } else if (raw.action_type !== undefined || raw.payload !== undefined || raw.workflow !== undefined || raw.inputs !== undefined) {
    fail('action_type, payload, workflow and inputs are only for decision "workflow"');
  }

  if (!ok) return null;
  return {
    name: name as string,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    pattern,
    decision: decision as Decision,
    action_type: actionType,
    payload,
    workflow,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
