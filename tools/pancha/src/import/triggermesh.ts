/**
 * TriggerMesh-style YAML workflows → Pancha manifests. Carried: name, description, enabled, the trigger's event
 * type, filter fields (equality as a CEL `if`, threshold, delta, dedup, rate limit, debounce), actions with their
 * `target` (built-in action, URL → http, or a plugin name) and `parameters` (`{{ payload.x }}` → `{{ inputs.x }}`),
 * timeouts, retries and backoff lists (approximated), parallel actions. A file may hold one workflow or a list.
 */
import { durationOf, type ImportedWorkflow, isBuiltinAction, semverOf, slugName, stepId } from './import-common';

type Obj = Record<string, unknown>;

export function importTriggerMesh(doc: unknown): ImportedWorkflow[] {
  const list = Array.isArray(doc) ? doc : Array.isArray((doc as Obj | null)?.workflows) ? ((doc as Obj).workflows as unknown[]) : [doc];
  return list.filter((w): w is Obj => !!w && typeof w === 'object').map((w, i) => importOne(w, i));
}

function importOne(w: Obj, index: number): ImportedWorkflow {
  const notes: string[] = [];
  const given = (v: unknown) => v !== undefined && v !== null && String(v).trim() !== '';
  const name = slugName(given(w.name) ? w.name : w.id, `imported-workflow-${index + 1}`);
  if (!given(w.name) && !given(w.id)) notes.push(`no name or id given: named "${name}"`);
  else if (given(w.name) && w.name !== name) notes.push(`name "${String(w.name)}" became "${name}"`);
  const manifest: Obj = { name, version: semverOf(w.version ?? '1.0.0', notes) };
  if (typeof w.description === 'string') manifest.description = w.description;
  if (w.enabled === false) manifest.enabled = false;
  manifest.inputs = undefined; // keeps its place before the steps; filled from the payload fields the actions read

  const payloadFields = new Set<string>();
  const trigger = (w.trigger ?? {}) as Obj;
  const eventType = typeof w.trigger === 'string' ? w.trigger : String(trigger.event_type ?? trigger.type ?? trigger.event ?? '');
  const t: Obj = {};
  if (eventType) t.event = eventType;
  else notes.push('no trigger event type found (trigger.event_type): the workflow can only be started through the API');
  for (const key of Object.keys(typeof w.trigger === 'object' && w.trigger ? trigger : {})) {
    if (!['event_type', 'type', 'event', 'source'].includes(key)) notes.push(`trigger.${key} has no Pancha equivalent; left out`);
  }
  if (trigger.source !== undefined) notes.push(`trigger.source "${String(trigger.source)}": Pancha triggers match on the event type; add \`event.source == "…"\` to the trigger's if when it matters`);

  const filter = (w.filter ?? w.filters ?? {}) as Obj;
  const conditions: string[] = [];
  for (const [key, value] of Object.entries(filter)) {
    switch (key) {
      case 'threshold': {
        const th = value as Obj;
        t.threshold = { field: fieldExpr(th.field), ...(th.above !== undefined ? { above: th.above } : {}), ...(th.below !== undefined ? { below: th.below } : {}), on: th.on === 'every' ? 'every' : 'crossing' };
        break;
      }
      case 'delta': {
        const d = value as Obj;
        t.delta = { field: fieldExpr(d.field), min_change: Number(d.min_change ?? d.min ?? 0), relative: d.relative === true || d.percent === true };
        break;
      }
      case 'dedup':
      case 'dedup_window':
      case 'dedupe': {
        const window = durationOf(typeof value === 'object' && value ? (value as Obj).window : value);
        if (window) t.dedup = { window };
        else notes.push(`filter.${key}: not a duration; no dedup`);
        break;
      }
      case 'rate_limit': {
        const r = value as Obj;
        const per = durationOf(r.per ?? r.window ?? r.period);
        if (typeof r.max === 'number' && per) t.rate_limit = { max: r.max, per, mode: r.mode === 'delay' ? 'delay' : 'drop' };
        else notes.push('filter.rate_limit: needs max and per; left out');
        break;
      }
      case 'debounce': {
        const quiet = durationOf(typeof value === 'object' && value ? (value as Obj).quiet : value);
        if (quiet) t.debounce = { quiet };
        break;
      }
      case 'condition':
      case 'expression':
        conditions.push(String(value).replace(/\bpayload\./g, 'event.data.'));
        notes.push(`filter.${key} copied as CEL: check it`);
        break;
      default:
        if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) conditions.push(`event.data.${key} == ${JSON.stringify(value)}`);
        else if (Array.isArray(value) && value.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) conditions.push(`event.data.${key} in ${JSON.stringify(value)}`);
        else notes.push(`filter.${key} has no Pancha equivalent; left out`);
    }
  }
  if (conditions.length > 0) t.if = conditions.join(' && ');
  if (t.event) manifest.triggers = [t];

  const actions = (Array.isArray(w.actions) ? w.actions : []) as Obj[];
  const taken = new Set<string>();
  const used = new Set<string>();
  const hosts = new Set<string>();
  const steps = actions.map((a, i) => convertAction(a, i, taken, used, hosts, payloadFields, notes));
  if (steps.length === 0) notes.push('no actions: add steps by hand');
  const parallel = w.parallel === true || w.mode === 'parallel' || w.execution === 'parallel';
  manifest.security = { actions: [...used].sort(), ...(hosts.size > 0 ? { http_hosts: [...hosts] } : {}) };
  if (parallel && steps.length > 1) manifest.steps = [{ id: 'actions', parallel: steps }];
  else manifest.steps = steps;
  if (payloadFields.size > 0) manifest.inputs = { type: 'object', properties: Object.fromEntries([...payloadFields].sort().map((f) => [f, {}])) };
  else delete manifest.inputs;

  for (const key of ['on_success', 'on_failure', 'success_event', 'failure_event']) {
    if (w[key] !== undefined) notes.push(`${key}: Pancha publishes workflow.completed / workflow.failed itself (another workflow can trigger on them); left out`);
  }
  for (const key of Object.keys(w)) {
    if (!['name', 'id', 'version', 'description', 'enabled', 'trigger', 'filter', 'filters', 'actions', 'parallel', 'mode', 'execution', 'on_success', 'on_failure', 'success_event', 'failure_event'].includes(key)) {
      notes.push(`${key} has no Pancha equivalent; left out`);
    }
  }
  notes.push('no tests: add `tests:` cases (stubs by step id) and run `npx pancha workflows test`');
  return { name, manifest, notes };
}

function fieldExpr(field: unknown): string {
  const f = String(field ?? '');
  if (f.startsWith('event.')) return f;
  return `event.data.${f.replace(/^payload\./, '')}`;
}

/** `{{ payload.x }}` → `{{ inputs.x }}` (a trigger's default inputs are the event's data, the payload). */
function rewrite(value: unknown, fields: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\bpayload\.([A-Za-z_][A-Za-z0-9_]*)/g, (_m, f: string) => {
      fields.add(f);
      return `inputs.${f}`;
    });
  }
  if (Array.isArray(value)) return value.map((v) => rewrite(v, fields));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v, fields)]));
  return value;
}

function convertAction(a: Obj, i: number, taken: Set<string>, used: Set<string>, hosts: Set<string>, fields: Set<string>, notes: string[]): Obj {
  const id = stepId(a.name ?? a.id ?? a.target, i, taken);
  const target = String(a.target ?? a.handler ?? '');
  const params = rewrite(a.parameters ?? a.params ?? {}, fields);
  const step: Obj = { id };
  if (/^https?:\/\//.test(target)) {
    step.action = 'http';
    hosts.add(new URL(target).hostname);
    step.with = { method: String(a.method ?? 'POST'), url: target, body: params };
  } else {
    step.action = target || 'task';
    if (!target) notes.push(`action ${id}: no target; set to task`);
    else if (!isBuiltinAction(target)) notes.push(`action ${id}: target "${target}" is not a built-in action: add a plugin named ${target} (plugins/) or change the step`);
    step.with = params;
  }
  used.add(step.action as string);
  if (typeof a.condition === 'string' || typeof a.if === 'string') step.if = rewrite(String(a.condition ?? a.if), fields);
  const timeout = durationOf(a.timeout);
  if (timeout) step.timeout = timeout;
  else if (a.timeout !== undefined) notes.push(`action ${id}: timeout "${String(a.timeout)}" is not a duration; left out`);
  const retry: Obj = {};
  if (typeof a.retries === 'number') retry.max_attempts = Math.max(1, Math.min(20, a.retries + 1));
  if (Array.isArray(a.backoff) && a.backoff.length > 0 && a.backoff.every((b) => typeof b === 'number' && b > 0)) {
    const list = a.backoff as number[];
    retry.initial_interval = durationOf(list[0]);
    retry.max_interval = durationOf(Math.max(...list));
    retry.backoff_coefficient = list.length > 1 ? Math.max(1, Math.round((list[1] / list[0]) * 100) / 100) : 1;
    if (retry.max_attempts === undefined) retry.max_attempts = Math.min(20, list.length + 1);
    notes.push(`action ${id}: backoff list [${list.join(', ')}] became an exponential policy (initial ${String(retry.initial_interval)}, ×${String(retry.backoff_coefficient)}, max ${String(retry.max_interval)}, full jitter)`);
  }
  if (Object.keys(retry).length > 0) step.retry = retry;
  if (a.continue_on_error === true || a.ignore_errors === true) step.on_failure = { continue: true };
  for (const key of Object.keys(a)) {
    if (!['name', 'id', 'target', 'handler', 'parameters', 'params', 'method', 'condition', 'if', 'timeout', 'retries', 'backoff', 'continue_on_error', 'ignore_errors'].includes(key)) {
      notes.push(`action ${id}: ${key} has no Pancha equivalent; left out`);
    }
  }
  return step;
}
