/**
 * DreamNet-style JSON workflow packages → Pancha manifests. Carried: name, version, description, author (owner),
 * inputs/outputs, steps (sequential / parallel / conditional composition, sub-workflows), executionTime.max
 * (timeout), errorHandling (retries, fallback workflow), security.networkAccess (http hosts), dependencies (as
 * sub-workflow refs). Everything else is reported.
 */
import { durationOf, type ImportedWorkflow, isBuiltinAction, schemaOf, semverOf, slugName, stepId } from './import-common';

type Obj = Record<string, unknown>;

const HANDLED = new Set(['name', 'version', 'description', 'author', 'inputs', 'outputs', 'dependencies', 'executionTime', 'errorHandling', 'security', 'steps', 'composition', 'workflow', 'type', 'tags']);

export function importDreamNet(doc: Obj): ImportedWorkflow {
  const notes: string[] = [];
  const name = slugName(doc.name, 'imported-workflow');
  if (doc.name === undefined || doc.name === null || String(doc.name).trim() === '') notes.push(`no name given: named "${name}"`);
  else if (doc.name !== name) notes.push(`name "${String(doc.name)}" became "${name}" (lower-case letters, digits, hyphens)`);
  const manifest: Obj = { name, version: semverOf(doc.version ?? '1.0.0', notes) };
  if (typeof doc.description === 'string') manifest.description = doc.description;
  if (typeof doc.author === 'string') manifest.owner = doc.author;
  else if (doc.author && typeof doc.author === 'object') manifest.owner = String((doc.author as Obj).email ?? (doc.author as Obj).name ?? '');
  const inputs = schemaOf(doc.inputs, 'inputs', notes);
  if (inputs) manifest.inputs = inputs;
  const outputs = schemaOf(doc.outputs, 'outputs', notes);
  if (outputs) manifest.outputs = outputs;

  const exec = (doc.executionTime ?? {}) as Obj;
  const max = durationOf(exec.max ?? exec.maximum ?? exec.timeout);
  if (max) manifest.timeout = max;
  else if (exec.max !== undefined) notes.push(`executionTime.max "${String(exec.max)}" is not a duration; no run timeout set`);
  if (exec.estimated !== undefined) notes.push(`executionTime.estimated (${String(exec.estimated)}) is informational: Pancha measures p50/p95 itself (\`pancha workflows stats\`)`);

  const eh = (doc.errorHandling ?? {}) as Obj;
  if (eh.retryable === false) manifest.retry = { max_attempts: 1 };
  else if (typeof eh.maxRetries === 'number') manifest.retry = { max_attempts: Math.max(1, Math.min(20, Math.floor(eh.maxRetries) + 1)) };
  if (eh.backoff !== undefined || eh.retryDelay !== undefined) {
    const initial = durationOf(eh.retryDelay ?? (eh.backoff as Obj | undefined)?.initial);
    if (initial) manifest.retry = { ...((manifest.retry as Obj) ?? {}), initial_interval: initial };
    else notes.push('errorHandling backoff: not a delay Pancha can read; the default backoff applies');
  }
  if (eh.fallback !== undefined) {
    const fb = typeof eh.fallback === 'string' ? eh.fallback : String((eh.fallback as Obj)?.workflow ?? (eh.fallback as Obj)?.name ?? '');
    if (/^[a-z0-9][a-z0-9-]*(@.+)?$/.test(fb)) manifest.on_failure = { workflow: fb };
    else notes.push(`errorHandling.fallback ${JSON.stringify(eh.fallback)} is not a workflow name; set on_failure by hand`);
  }
  for (const key of Object.keys(eh)) if (!['retryable', 'maxRetries', 'fallback', 'backoff', 'retryDelay'].includes(key)) notes.push(`errorHandling.${key} has no Pancha equivalent`);

  const sec = (doc.security ?? {}) as Obj;
  const httpHosts: string[] = [];
  if (Array.isArray(sec.networkAccess)) httpHosts.push(...sec.networkAccess.map(String).map((h) => h.replace(/^https?:\/\//, '').replace(/[/:].*$/, '')));
  else if (sec.networkAccess === true) notes.push('security.networkAccess: true allows any host; Pancha allows named hosts only: list them in security.http_hosts');
  if (sec.requiresAuth !== undefined) notes.push('security.requiresAuth: every Pancha run start is authenticated and held to config/policy.yaml; nothing to carry');
  if (sec.allowedPaths !== undefined) notes.push('security.allowedPaths: Pancha workflows have no file system access; left out');

  const deps = Array.isArray(doc.dependencies) ? doc.dependencies : doc.dependencies && typeof doc.dependencies === 'object' ? Object.entries(doc.dependencies as Obj).map(([n, v]) => `${n}@${String(v)}`) : [];
  const depRefs = new Map<string, string>();
  for (const d of deps) {
    const ref = typeof d === 'string' ? d : d && typeof d === 'object' ? `${String((d as Obj).name)}${(d as Obj).version ? `@${String((d as Obj).version)}` : ''}` : '';
    const [depName, range] = ref.split('@');
    if (/^[a-z0-9][a-z0-9-]*$/.test(depName ?? '')) depRefs.set(depName, range ? range : '*');
    else notes.push(`dependency ${JSON.stringify(d)} is not a workflow reference; left out (packages and services are not workflow dependencies in Pancha)`);
  }

  const onFailure = manifest.on_failure as { workflow: string } | undefined;
  if (onFailure && !onFailure.workflow.includes('@')) onFailure.workflow = `${onFailure.workflow}@${depRefs.get(onFailure.workflow) ?? '*'}`;

  const comp = (doc.composition ?? doc.workflow ?? {}) as Obj;
  const rawSteps = (Array.isArray(doc.steps) ? doc.steps : Array.isArray(comp.steps) ? comp.steps : []) as Obj[];
  const mode = String(comp.type ?? doc.type ?? 'sequential');
  const taken = new Set<string>();
  const actions = new Set<string>();
  const used = new Set<string>();
  const steps = rawSteps.flatMap((s, i) => convertStep(s, i, taken, actions, depRefs, used, httpHosts, notes));
  if (steps.length === 0) notes.push('no steps found (steps or composition.steps): add steps by hand');
  manifest.security = { actions: [...actions].sort(), ...(httpHosts.length > 0 ? { http_hosts: [...new Set(httpHosts)] } : {}) };
  if (mode === 'parallel' && steps.length > 1) manifest.steps = [{ id: 'all', parallel: steps }];
  else manifest.steps = steps;
  if (!['sequential', 'parallel', 'conditional'].includes(mode)) notes.push(`composition type "${mode}" is unknown: steps run in sequence`);
  if (onFailure) used.add(onFailure.workflow.split('@')[0]);
  for (const [dep] of depRefs) if (!used.has(dep)) notes.push(`dependency ${dep} is not called by any step; Pancha resolves sub-workflows from workflow steps only`);
  for (const key of Object.keys(doc)) if (!HANDLED.has(key)) notes.push(`${key} has no Pancha equivalent; left out`);
  notes.push('no tests: add `tests:` cases (stubs by step id) and run `npx pancha workflows test`');
  return { name, manifest, notes };
}

/** One step, or the steps of a nested sequence (flattened: a sequence inside a sequence is the same sequence). */
function convertStep(s: Obj, i: number, taken: Set<string>, actions: Set<string>, deps: Map<string, string>, used: Set<string>, hosts: string[], notes: string[]): Obj[] {
  const id = stepId(s.id ?? s.name, i, taken);
  const out: Obj = { id };
  const condition = s.condition ?? s.when ?? s.if;
  if (typeof condition === 'string') {
    out.if = condition.replace(/^\{\{\s*|\s*\}\}$/g, '');
    notes.push(`step ${id}: condition copied as a CEL expression; check it reads inputs.* / steps.<id>.output.*`);
  }
  const params = (s.params ?? s.parameters ?? s.inputs ?? s.with ?? {}) as Obj;
  const sub = s.workflow ?? s.subworkflow;
  const action = String(s.action ?? s.handler ?? s.type ?? '');
  if (Array.isArray(s.steps) && s.steps.length > 0) {
    const children = (s.steps as Obj[]).flatMap((c, j) => convertStep(c, j, taken, actions, deps, used, hosts, notes));
    if (!(s.type === 'parallel' || s.parallel === true)) {
      if (out.if) notes.push(`step ${id}: the condition on a nested sequence applies to none of its steps now; copy it onto them`);
      return children;
    }
    out.parallel = children;
  } else if (typeof sub === 'string' && sub) {
    const [n, r] = sub.split('@');
    out.workflow = `${n}@${r ?? deps.get(n) ?? '*'}`;
    used.add(n);
    out.with = params;
  } else if (deps.has(action)) {
    out.workflow = `${action}@${deps.get(action)}`;
    used.add(action);
    out.with = params;
  } else if (/^https?:\/\//.test(action) || typeof s.url === 'string') {
    const url = String(s.url ?? action);
    out.action = 'http';
    actions.add('http');
    hosts.push(new URL(url).hostname);
    out.with = { method: String(s.method ?? 'POST'), url, body: params };
  } else {
    out.action = action || 'task';
    actions.add(out.action as string);
    if (!action) notes.push(`step ${id}: no action named; set to task`);
    else if (!isBuiltinAction(action)) notes.push(`step ${id}: action "${action}" is not built in: add a plugin named ${action} (plugins/) or change the step`);
    out.with = params;
  }
  const timeout = durationOf(s.timeout);
  if (timeout) out.timeout = timeout;
  if (s.continueOnError === true || s.optional === true) out.on_failure = { continue: true };
  for (const key of Object.keys(s)) {
    if (!['id', 'name', 'condition', 'when', 'if', 'params', 'parameters', 'inputs', 'with', 'workflow', 'subworkflow', 'action', 'handler', 'type', 'steps', 'parallel', 'url', 'method', 'timeout', 'continueOnError', 'optional', 'description'].includes(key)) {
      notes.push(`step ${id}: ${key} has no Pancha equivalent; left out`);
    }
  }
  if (typeof s.description === 'string') out.description = s.description;
  return [out];
}
