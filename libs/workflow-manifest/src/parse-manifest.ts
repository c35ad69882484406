/**
 * The syntax layer: YAML → a checked, normalised WorkflowManifest, with every finding placed at its file, line and
 * JSON pointer. Normalising expands shorthands, fills defaults and turns durations into milliseconds.
 */
import Ajv2020, { ErrorObject } from 'ajv/dist/2020';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { contentHash } from './canonical-json';
import { DurationError, formatDuration, parseDuration } from './duration';
import { escapePointerToken, unwrapExpression } from './expressions';
import { jsonSchemaProblem } from './json-schema';
import { MANIFEST_JSON_SCHEMA, MAX_TRIGGER_WINDOW_MS } from './manifest.schema';
import {
  DEFAULT_RETRY_POLICY,
  type Finding,
  type FindingSeverity,
  type ForeachBody,
  type RetryPolicy,
  type RunFailureSpec,
  type RunStatus,
  type SourceLocation,
  type Step,
  type StepFailureSpec,
  type StepKind,
  type SwitchCase,
  type TriggerSpec,
  type WorkflowManifest,
  type WorkflowTestCase,
} from './manifest.types';
import { isValidVersion } from './versions';
import { parseWorkflowRef, WORKFLOW_NAME_PATTERN, WorkflowRefError } from './workflow-ref';

/** A step id is read as `steps.<id>` in CEL, so it must be an identifier: no hyphens, no leading digit. */
export const STEP_ID_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** Where the parts of a manifest are in its file: every finding of every layer gets its line from here. */
export interface ManifestSource {
  file?: string;
  /** 1-based line of the value at `pointer`, or of its nearest ancestor that is in the file. */
  lineOf(pointer: string): number | undefined;
  /** 1-based column on that same line (of the key, for a mapping entry), when known. */
  columnOf?(pointer: string): number | undefined;
}

export interface ParseManifestOptions {
  /** Shown in findings (relative to the workflows directory). */
  file?: string;
  /** The file's basename: the manifest's `name` must equal it. */
  expectedName?: string;
}

export interface ParseManifestResult {
  /** Undefined when the document cannot be normalised (its findings say why). */
  manifest?: WorkflowManifest;
  findings: Finding[];
  source: ManifestSource;
}

// The manifest format's own schema: strict (a mistake in it is ours), every error, with the offending data.
const formatAjv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true, logger: false });
formatAjv.addFormat('duration', { type: 'string', validate: (s: string) => durationProblem(s) === null });
formatAjv.addFormat('window', { type: 'string', validate: (s: string) => durationProblem(s) === null && windowProblem(s) === null });
formatAjv.addFormat('semver', { type: 'string', validate: (s: string) => isValidVersion(s) });
formatAjv.addFormat('workflow-name', { type: 'string', validate: (s: string) => WORKFLOW_NAME_PATTERN.test(s) });
formatAjv.addFormat('step-id', { type: 'string', validate: (s: string) => STEP_ID_PATTERN.test(s) });
formatAjv.addFormat('workflow-ref', { type: 'string', validate: (s: string) => refProblem(s) === null });
const validateFormat = formatAjv.compile(MANIFEST_JSON_SCHEMA);

function durationProblem(value: string | number): string | null {
  try {
    parseDuration(value);
    return null;
  } catch (error) {
    return error instanceof DurationError ? error.message : String(error);
  }
}

/**
 * What is wrong with a trigger window that parses as a duration (null when nothing): 0 (the filter would let every
 * event through) or longer than MAX_TRIGGER_WINDOW_MS.
 */
function windowProblem(value: string | number): string | null {
  const ms = parseDuration(value);
  const written = typeof value === 'number' ? formatDuration(ms) : value;
  if (ms === 0) return `must be longer than 0: a window of ${written} would let every event through, the filter doing nothing`;
  if (ms > MAX_TRIGGER_WINDOW_MS) return `${written} is longer than the longest trigger window, ${formatDuration(MAX_TRIGGER_WINDOW_MS)}`;
  return null;
}

/** The finding for a trigger window at `pointer` out of its format: not a duration at all, or one out of range. */
function windowFinding(value: string | number, pointer: string): { code: string; message: string } {
  const problem = durationProblem(value);
  if (problem !== null) return { code: 'invalid_duration', message: problem };
  return { code: 'invalid_window', message: `${fieldOf(pointer)} ${windowProblem(value) ?? 'is not a window'}` };
}

/** `/triggers/0/rate_limit/per` → `triggers[0].rate_limit.per`: the field as a message names it. */
function fieldOf(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, token) => (/^\d+$/.test(token) ? `${out}[${token}]` : out ? `${out}.${token}` : token), '');
}

function refProblem(value: string): string | null {
  try {
    parseWorkflowRef(value);
    return null;
  } catch (error) {
    return error instanceof WorkflowRefError ? error.message : String(error);
  }
}

export function parseManifest(text: string, opts: ParseManifestOptions = {}): ParseManifestResult {
  const lines = new Map<string, LinePos>();
  const source = manifestSource(lines, opts.file);
  const findings: Finding[] = [];
  const add = (code: string, message: string, path: string, severity: FindingSeverity = 'error', at: LinePos | undefined = positionOf(lines, path)) =>
    findings.push({ layer: 'syntax', severity, code, message, file: opts.file, line: at?.line, ...(at?.column !== undefined ? { column: at.column } : {}), path });

  const lineCounter = new LineCounter();
  // JSON-like YAML only: no merge keys, no !!binary/!!set/!!timestamp turning into non-JSON values (they stay strings, with a warning).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false, resolveKnownTags: false, version: '1.2' });
  const lineAt = (offset: number): LinePos => {
    const pos = lineCounter.linePos(offset);
    return pos.line < 1 ? { line: 1, column: 1 } : { line: pos.line, column: Math.max(1, pos.col) };
  };
  for (const error of doc.errors) {
    const detail = error.code === 'DUPLICATE_KEY' ? ` ("${/^[^:\n]*/.exec(text.slice(error.pos[0]))?.[0].trim() ?? ''}")` : '';
    add('yaml_syntax', `${error.message.split('\n')[0]}${detail}`, '', 'error', lineAt(error.pos[0]));
  }
  for (const warning of doc.warnings) add('yaml_warning', warning.message.split('\n')[0], '', 'warning', lineAt(warning.pos[0]));
  if (doc.errors.length > 0) return { findings, source };

  collectLines(doc.contents, '', lines, lineAt, 0);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    add('yaml_syntax', `the document cannot be read: ${(error as Error).message}`, '');
    return { findings, source };
  }
  if (raw === null || raw === undefined) {
    add('empty_manifest', 'the manifest is empty', '', 'error', { line: 1, column: 1 });
    return { findings, source };
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    add('not_a_mapping', 'a manifest is a mapping of keys (name, version, steps, …)', '');
    return { findings, source };
  }

  if (!validateFormat(raw)) {
    for (const f of formatFindings(validateFormat.errors ?? [])) add(f.code, f.message, f.path);
    return { findings, source };
  }
  const doc0 = raw as RawManifest;
  if (opts.expectedName !== undefined && doc0.name !== opts.expectedName) {
    add('name_mismatch', `name "${doc0.name}" does not match the file name "${opts.expectedName}"`, '/name');
  }

  const normaliser = new Normaliser(source, opts.file);
  const manifest = normaliser.manifest(doc0, contentHash(raw), definitionHashOf(raw));
  findings.push(...normaliser.findings);
  const failed = findings.some((f) => f.severity === 'error');
  return { manifest: failed ? undefined : manifest, findings, source };
}

/** The lifecycle flags: a registered version's mutable state, not part of what it is (sameDefinition). */
export const LIFECYCLE_FLAGS = ['deprecated', 'retired'] as const;

/** The content hash of a document without its lifecycle flags (`retired: false` and no `retired` are the same). */
function definitionHashOf(raw: object): string {
  const rest: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const flag of LIFECYCLE_FLAGS) delete rest[flag];
  return contentHash(rest);
}

/**
 * Whether two manifests of one name@version are the same definition: the same content, or content that differs only
 * in the lifecycle flags (`deprecated`, `retired`), which may change after registration (WORKFLOWS.md). Hashes
 * stored before `definition_hash` existed still compare: equal content hashes are the same definition.
 */
export function sameDefinition(a: Pick<WorkflowManifest, 'content_hash' | 'definition_hash'>, b: Pick<WorkflowManifest, 'content_hash' | 'definition_hash'>): boolean {
  if (a.content_hash === b.content_hash) return true;
  return a.definition_hash !== undefined && a.definition_hash === b.definition_hash;
}

interface LinePos {
  line: number;
  column: number;
}

/** The position of `pointer`, or of its nearest ancestor that is in the file. */
function positionOf(lines: Map<string, LinePos>, pointer: string): LinePos | undefined {
  let p = pointer;
  for (;;) {
    const at = lines.get(p);
    if (at !== undefined) return at;
    if (p === '') return undefined;
    p = p.slice(0, p.lastIndexOf('/'));
  }
}

function manifestSource(lines: Map<string, LinePos>, file: string | undefined): ManifestSource {
  return {
    file,
    lineOf: (pointer) => positionOf(lines, pointer)?.line,
    columnOf: (pointer) => positionOf(lines, pointer)?.column,
  };
}

function collectLines(node: unknown, pointer: string, lines: Map<string, LinePos>, lineAt: (offset: number) => LinePos, depth: number): void {
  if (!node || typeof node !== 'object' || depth > 256) return;
  const range = (node as { range?: [number, number, number] }).range;
  if (range && !lines.has(pointer)) lines.set(pointer, lineAt(range[0]));
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const child = `${pointer}/${escapePointerToken(key)}`;
      // A key's own line, not its value's: for a block value that is the line a reader looks at.
      const keyRange = (pair.key as { range?: [number, number, number] } | null)?.range;
      if (keyRange) lines.set(child, lineAt(keyRange[0]));
      collectLines(pair.value, child, lines, lineAt, depth + 1);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => collectLines(item, `${pointer}/${i}`, lines, lineAt, depth + 1));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema errors → findings a person can act on

const FORMAT_CODES: Record<string, string> = {
  duration: 'invalid_duration',
  semver: 'invalid_version',
  'workflow-name': 'invalid_name',
  'step-id': 'invalid_step_id',
  'workflow-ref': 'invalid_workflow_ref',
};

function formatFindings(errors: ErrorObject[]): { code: string; message: string; path: string }[] {
  const out = new Map<string, { code: string; message: string; path: string }>();
  const add = (code: string, message: string, path: string) => out.set(`${path}\0${message}`, { code, message, path });
  for (const e of errors) {
    const at = e.instancePath;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(e.params.additionalProperty);
        const allowed = Object.keys((e.parentSchema?.properties as object | undefined) ?? {});
        add('unknown_key', `unknown key "${key}"${suggest(key, allowed)}`, `${at}/${escapePointerToken(key)}`);
        break;
      }
      case 'required':
        add('missing_key', `"${String(e.params.missingProperty)}" is required`, `${at}/${escapePointerToken(String(e.params.missingProperty))}`);
        break;
      case 'type':
        add('wrong_type', `must be ${String(e.params.type).split(',').map(withArticle).join(' or ')}`, at);
        break;
      case 'format': {
        const format = String(e.params.format);
        // A window that is not even a duration is that duration's problem; one that is, out of range, the window's.
        if (format === 'window') {
          const f = windowFinding(e.data as string, at);
          add(f.code, f.message, at);
          break;
        }
        add(FORMAT_CODES[format] ?? 'invalid_value', formatMessage(format, e.data), at);
        break;
      }
      case 'enum':
        add('invalid_value', `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, at);
        break;
      case 'const':
        add('invalid_value', `must be ${JSON.stringify(e.params.allowedValue)}`, at);
        break;
      case 'minItems':
      case 'minProperties':
        add('invalid_value', 'must not be empty', at);
        break;
      case 'pattern':
        if (e.propertyName !== undefined) add('invalid_value', `"${e.propertyName}" must look like 1.x (a major version)`, `${at}/${escapePointerToken(e.propertyName)}`);
        else add('invalid_value', patternMessage(String(e.params.pattern), e.data), at);
        break;
      case 'propertyNames':
        break; // reported by the pattern error of the property name itself
      case 'minimum':
      case 'maximum': {
        // A window written as a number of milliseconds: the same words as for the string form.
        if ((e.parentSchema as { format?: string } | undefined)?.format === 'window' && typeof e.data === 'number') {
          const f = windowFinding(e.data, at);
          add(f.code, f.message, at);
          break;
        }
        if (e.keyword === 'minimum') {
          add('invalid_value', `must be at least ${String(e.params.limit)}`, at);
          break;
        }
        const why = (e.parentSchema as { description?: string } | undefined)?.description;
        add('invalid_value', `${fieldOf(at)} must be at most ${String(e.params.limit)}${why ? ` (${why})` : ''}`, at);
        break;
      }
      case 'minLength':
        add('invalid_value', 'must not be empty', at);
        break;
      default:
        add('schema_violation', e.message ?? 'is invalid', at);
    }
  }
  return [...out.values()];
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function formatMessage(format: string, data: unknown): string {
  switch (format) {
    case 'duration':
      return durationProblem(data as string) ?? 'invalid duration';
    case 'semver':
      return `"${String(data)}" is not a version: use semver x.y.z (or x.y.z-pre), without "v" or build metadata`;
    case 'workflow-name':
      return `"${String(data)}" is not a valid workflow name: use lower-case letters, digits and hyphens (at most 100)`;
    case 'step-id':
      return `"${String(data)}" is not a valid step id: use lower-case letters, digits and underscores, starting with a letter (expressions read it as steps.<id>)`;
    case 'workflow-ref':
      return refProblem(data as string) ?? 'invalid workflow reference';
    default:
      return `must match format "${format}"`;
  }
}

function patternMessage(pattern: string, data: unknown): string {
  const value = JSON.stringify(data);
  if (pattern.startsWith('^[a-z][a-z0-9_.-]*')) return `${value} is not a valid action name (lower-case letters, digits, _ . -)`;
  if (pattern.startsWith('^(\\*\\.)?')) return `${value} is not a host name (write hooks.example.com or *.example.com, without scheme or path)`;
  if (pattern.startsWith('^[A-Za-z_]')) return `${value} is not a valid secret name (letters, digits and _, not starting with a digit)`;
  if (pattern.startsWith('^([A-Za-z0-9_:-]')) return `${value} is not a valid event type (e.g. user.signed_up, or a prefix kpi.*)`;
  return `${value} does not match ${pattern}`;
}

/** `; did you mean "retry"?` for a key one or two edits away from an allowed one. */
function suggest(key: string, allowed: string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best) return `; did you mean "${best}"?`;
  return allowed.length > 0 && allowed.length <= 24 ? `; allowed here: ${allowed.join(', ')}` : '';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisation (the document already matches MANIFEST_JSON_SCHEMA)

type Duration = string | number;

interface RawRetry {
  max_attempts?: number;
  initial_interval?: Duration;
  backoff_coefficient?: number;
  max_interval?: Duration;
  non_retryable?: string[];
}

interface RawStep {
  id: string;
  description?: string;
  if?: string;
  timeout?: Duration;
  on_failure?: { continue?: true; goto?: string; workflow?: string; with?: unknown };
  retry?: RawRetry;
  action?: string;
  with?: unknown;
  parallel?: RawStep[];
  join?: 'all' | 'any';
  fail_fast?: boolean;
  switch?: { when?: string; if?: string; steps?: RawStep[]; default?: RawStep[] }[];
  steps?: RawStep[];
  foreach?: string;
  concurrency?: number;
  workflow?: string;
  sleep?: Duration | { until?: string; for?: string };
  approval?: { signal: string; timeout?: Duration; on_timeout?: 'fail' | 'continue' };
}

interface RawTrigger {
  name?: string;
  event: string;
  key?: string;
  if?: string;
  threshold?: { field: string; above?: number; below?: number; on?: 'crossing' | 'every' };
  delta?: { field: string; min_change: number; relative?: boolean };
  dedup?: { window: Duration };
  rate_limit?: { max: number; per: Duration; mode?: 'drop' | 'delay' };
  debounce?: { quiet: Duration };
  inputs?: unknown;
}

interface RawTest {
  name: string;
  inputs?: Record<string, unknown>;
  stub?: Record<string, { output?: unknown; error?: string | { code: string; message?: string } }>;
  signals?: Record<string, unknown>;
  expect: { status: RunStatus; output?: unknown; error?: string; steps_taken?: string[] };
}

interface RawManifest {
  name: string;
  version: string;
  description?: string;
  owner?: string;
  enabled?: boolean;
  deprecated?: boolean;
  retired?: boolean;
  inputs?: WorkflowManifest['inputs'];
  outputs?: WorkflowManifest['outputs'];
  timeout?: Duration;
  retry?: RawRetry;
  security?: { actions?: string[]; http_hosts?: string[]; secrets?: string[] };
  triggers?: RawTrigger[];
  steps: RawStep[];
  output?: unknown;
  on_failure?: { workflow?: string; with?: unknown; steps?: RawStep[] };
  tests?: RawTest[];
  migrations?: Record<string, Record<string, unknown>>;
}

const KIND_KEYS = ['action', 'parallel', 'switch', 'steps', 'foreach', 'workflow', 'sleep', 'approval'] as const;
const COMMON_STEP_KEYS = new Set(['id', 'description', 'if', 'timeout', 'on_failure']);
const KEYS_BY_KIND: Record<StepKind, readonly string[]> = {
  action: ['action', 'with', 'retry'],
  parallel: ['parallel', 'join', 'fail_fast'],
  switch: ['switch'],
  group: ['steps'],
  foreach: ['foreach', 'concurrency', 'action', 'workflow', 'steps', 'with', 'retry'],
  workflow: ['workflow', 'with', 'retry'],
  sleep: ['sleep'],
  approval: ['approval'],
};
const KEY_OWNERS: Record<string, string> = {
  join: 'parallel steps',
  fail_fast: 'parallel steps',
  concurrency: 'foreach steps',
  with: 'action, workflow and foreach steps',
  retry: 'action, workflow and foreach steps (with an action or workflow body)',
};

/** The default run inputs of a trigger that names none: the event's data. */
export const DEFAULT_TRIGGER_INPUTS = '{{ event.data }}';

class Normaliser {
  readonly findings: Finding[] = [];

  constructor(
    private readonly source: ManifestSource,
    private readonly file: string | undefined,
  ) {}

  private error(code: string, message: string, path: string): void {
    const column = this.source.columnOf?.(path);
    this.findings.push({ layer: 'syntax', severity: 'error', code, message, file: this.file, line: this.source.lineOf(path), ...(column !== undefined ? { column } : {}), path });
  }

  private at(pointer: string): SourceLocation {
    const line = this.source.lineOf(pointer);
    return line === undefined ? { pointer } : { pointer, line };
  }

  manifest(raw: RawManifest, hash: string, definitionHash: string): WorkflowManifest {
    for (const key of ['inputs', 'outputs'] as const) {
      if (raw[key] === undefined) continue;
      const problem = jsonSchemaProblem(raw[key]);
      if (problem) this.error('invalid_json_schema', `${key}: ${problem}`, `/${key}`);
    }
    const retry = mergeRetry(DEFAULT_RETRY_POLICY, raw.retry);
    const manifest: WorkflowManifest = {
      name: raw.name,
      version: raw.version,
      description: raw.description,
      owner: raw.owner,
      enabled: raw.enabled ?? true,
      deprecated: raw.deprecated ?? false,
      retired: raw.retired ?? false,
      inputs: raw.inputs,
      outputs: raw.outputs,
      timeout_ms: raw.timeout === undefined ? undefined : parseDuration(raw.timeout),
      retry,
      security: {
        actions: [...(raw.security?.actions ?? [])],
        http_hosts: [...(raw.security?.http_hosts ?? [])],
        secrets: [...(raw.security?.secrets ?? [])],
      },
      triggers: (raw.triggers ?? []).map((t, i) => this.trigger(t, i)),
      steps: this.steps(raw.steps, '/steps', retry),
      output: raw.output,
      on_failure: raw.on_failure ? this.runFailure(raw.on_failure, retry) : undefined,
      tests: (raw.tests ?? []).map((t, i) => this.test(t, `/tests/${i}`)),
      migrations: { ...(raw.migrations ?? {}) },
      content_hash: hash,
      definition_hash: definitionHash,
      file: this.file,
    };
    return compact(manifest);
  }

  private steps(raw: RawStep[], pointer: string, retry: RetryPolicy): Step[] {
    return raw.map((step, i) => this.step(step, `${pointer}/${i}`, retry));
  }

  private step(raw: RawStep, pointer: string, inheritedRetry: RetryPolicy): Step {
    const kind = this.kindOf(raw, pointer);
    for (const key of Object.keys(raw)) {
      if (COMMON_STEP_KEYS.has(key) || KEYS_BY_KIND[kind].includes(key)) continue;
      if ((KIND_KEYS as readonly string[]).includes(key)) continue; // reported by kindOf
      this.error('key_not_applicable', `"${key}" does not apply to a ${kind} step${KEY_OWNERS[key] ? ` (it belongs to ${KEY_OWNERS[key]})` : ''}`, `${pointer}/${key}`);
    }
    const retry = mergeRetry(inheritedRetry, raw.retry);
    const base = {
      id: raw.id,
      description: raw.description,
      if: raw.if === undefined ? undefined : unwrapExpression(raw.if),
      timeout_ms: raw.timeout === undefined ? undefined : parseDuration(raw.timeout),
      on_failure: raw.on_failure ? this.stepFailure(raw.on_failure, `${pointer}/on_failure`) : undefined,
      source: this.at(pointer),
    };
    switch (kind) {
      case 'action':
        return compact({ ...base, kind, action: raw.action as string, with: raw.with ?? {}, retry });
      case 'parallel':
        return compact({
          ...base,
          kind,
          branches: this.steps(raw.parallel ?? [], `${pointer}/parallel`, inheritedRetry),
          join: raw.join ?? 'all',
          fail_fast: raw.fail_fast ?? true,
        });
      case 'switch':
        return compact({ ...base, kind, ...this.switchCases(raw, pointer, inheritedRetry) });
      case 'group':
        return compact({ ...base, kind, steps: this.steps(raw.steps ?? [], `${pointer}/steps`, inheritedRetry) });
      case 'foreach':
        return compact({
          ...base,
          kind,
          items: unwrapExpression(raw.foreach as string),
          concurrency: raw.concurrency ?? 1,
          body: this.foreachBody(raw, pointer, inheritedRetry, retry),
        });
      case 'workflow':
        return compact({ ...base, kind, workflow: parseWorkflowRef(raw.workflow as string), with: raw.with ?? {}, retry: subworkflowRetry(inheritedRetry, raw.retry) });
      case 'sleep': {
        const sleep = raw.sleep as Duration | { until?: string; for?: string };
        return compact(
          typeof sleep === 'object' ? { ...base, kind, until: sleep.until, for: sleep.for } : { ...base, kind, duration_ms: parseDuration(sleep) },
        );
      }
      case 'approval': {
        const approval = raw.approval as NonNullable<RawStep['approval']>;
        if (approval.timeout !== undefined && raw.timeout !== undefined) {
          this.error('duplicate_timeout', 'give the approval timeout once: approval.timeout or the step timeout, not both', `${pointer}/timeout`);
        }
        const timeout = approval.timeout ?? raw.timeout;
        return compact({
          ...base,
          kind,
          signal: approval.signal,
          timeout_ms: timeout === undefined ? undefined : parseDuration(timeout),
          on_timeout: approval.on_timeout ?? 'fail',
        });
      }
    }
  }

  private kindOf(raw: RawStep, pointer: string): StepKind {
    const present = KIND_KEYS.filter((k) => raw[k] !== undefined);
    const toKind = (key: (typeof KIND_KEYS)[number]): StepKind => (key === 'steps' ? 'group' : key);
    if (present.includes('foreach')) {
      const bodies: string[] = present.filter((k) => k === 'action' || k === 'workflow' || k === 'steps');
      const others = present.filter((k) => k !== 'foreach' && !bodies.includes(k));
      for (const other of others) {
        this.error('ambiguous_step_kind', `step "${raw.id}" is a foreach; "${other}" cannot be part of it (its body is action, workflow or steps)`, `${pointer}/${other}`);
      }
      if (bodies.length !== 1) {
        this.error(
          'invalid_foreach_body',
          bodies.length === 0
            ? `foreach step "${raw.id}" needs a body: action, workflow or steps`
            : `foreach step "${raw.id}" has ${bodies.join(' and ')}; give exactly one body (use steps for several)`,
          bodies.length === 0 ? pointer : `${pointer}/${bodies[1]}`,
        );
      }
      return 'foreach';
    }
    if (present.length === 0) {
      this.error('missing_step_kind', `step "${raw.id}" does nothing: give it one of ${KIND_KEYS.join(', ')}`, pointer);
      return 'group';
    }
    if (present.length > 1) {
      this.error(
        'ambiguous_step_kind',
        `step "${raw.id}" has ${present.join(' and ')}; a step does one of them (put several in steps or parallel)`,
        `${pointer}/${present[1]}`,
      );
    }
    return toKind(present[0]);
  }

  private switchCases(raw: RawStep, pointer: string, retry: RetryPolicy): { cases: SwitchCase[]; default?: Step[] } {
    const cases: SwitchCase[] = [];
    let fallback: Step[] | undefined;
    const entries = raw.switch ?? [];
    entries.forEach((entry, i) => {
      const at = `${pointer}/switch/${i}`;
      if (entry.default !== undefined) {
        if (entry.when !== undefined || entry.if !== undefined || entry.steps !== undefined) {
          this.error('invalid_switch_case', 'a default entry holds only default: [steps]', at);
        }
        if (fallback !== undefined) this.error('invalid_switch_case', 'a switch has at most one default entry', at);
        else if (i !== entries.length - 1) this.error('invalid_switch_case', 'the default entry must be the last one', at);
        fallback = this.steps(entry.default, `${at}/default`, retry);
        return;
      }
      if (entry.when !== undefined && entry.if !== undefined) this.error('invalid_switch_case', 'write when or if, not both', `${at}/if`);
      const condition = entry.when ?? entry.if;
      if (condition === undefined) this.error('invalid_switch_case', 'each case needs when: <condition> and steps (or is the last entry, default: [steps])', at);
      if (entry.steps === undefined) this.error('invalid_switch_case', 'each case needs steps', at);
      cases.push({ when: unwrapExpression(condition ?? 'false'), steps: this.steps(entry.steps ?? [], `${at}/steps`, retry), source: this.at(at) });
    });
    return fallback === undefined ? { cases } : { cases, default: fallback };
  }

  private foreachBody(raw: RawStep, pointer: string, inherited: RetryPolicy, retry: RetryPolicy): ForeachBody {
    if (raw.workflow !== undefined) return { kind: 'workflow', workflow: parseWorkflowRef(raw.workflow), with: raw.with ?? {}, retry: subworkflowRetry(inherited, raw.retry) };
    if (raw.steps !== undefined) {
      for (const key of ['with', 'retry'] as const) {
        if (raw[key] !== undefined) this.error('key_not_applicable', `"${key}" does not apply to a foreach with a steps body (put it on the inner steps)`, `${pointer}/${key}`);
      }
      return { kind: 'group', steps: this.steps(raw.steps, `${pointer}/steps`, inherited) };
    }
    return { kind: 'action', action: raw.action ?? '', with: raw.with ?? {}, retry };
  }

  private stepFailure(raw: NonNullable<RawStep['on_failure']>, pointer: string): StepFailureSpec | undefined {
    const chosen = (['continue', 'goto', 'workflow'] as const).filter((k) => raw[k] !== undefined);
    if (chosen.length !== 1) {
      this.error('invalid_on_failure', 'on_failure needs exactly one of continue: true, goto: <step id> or workflow: <name@range>', pointer);
      return undefined;
    }
    if (raw.with !== undefined && raw.workflow === undefined) this.error('invalid_on_failure', '"with" applies only to on_failure.workflow', `${pointer}/with`);
    if (raw.continue) return { continue: true };
    if (raw.goto !== undefined) return { goto: raw.goto };
    return compact({ workflow: parseWorkflowRef(raw.workflow as string), with: raw.with });
  }

  private runFailure(raw: NonNullable<RawManifest['on_failure']>, retry: RetryPolicy): RunFailureSpec {
    if (raw.workflow === undefined && raw.steps === undefined) {
      this.error('invalid_on_failure', 'on_failure needs workflow: <name@range>, steps: [...], or both', '/on_failure');
    }
    if (raw.with !== undefined && raw.workflow === undefined) this.error('invalid_on_failure', '"with" applies only to on_failure.workflow', '/on_failure/with');
    return compact({
      workflow: raw.workflow === undefined ? undefined : parseWorkflowRef(raw.workflow),
      with: raw.with,
      steps: raw.steps === undefined ? undefined : this.steps(raw.steps, '/on_failure/steps', retry),
    });
  }

  private trigger(raw: RawTrigger, index: number): TriggerSpec {
    const pointer = `/triggers/${index}`;
    const threshold = raw.threshold;
    if (threshold && (threshold.above === undefined) === (threshold.below === undefined)) {
      this.error('invalid_threshold', 'a threshold needs exactly one of above or below', `${pointer}/threshold`);
    }
    return compact({
      name: raw.name ?? `${raw.event}#${index}`,
      event: raw.event,
      key: raw.key === undefined ? undefined : unwrapExpression(raw.key),
      if: raw.if === undefined ? undefined : unwrapExpression(raw.if),
      threshold: threshold && compact({ field: unwrapExpression(threshold.field), above: threshold.above, below: threshold.below, on: threshold.on ?? 'crossing' }),
      delta: raw.delta && { field: unwrapExpression(raw.delta.field), min_change: raw.delta.min_change, relative: raw.delta.relative ?? false },
      dedup: raw.dedup && { window_ms: parseDuration(raw.dedup.window) },
      rate_limit: raw.rate_limit && { max: raw.rate_limit.max, per_ms: parseDuration(raw.rate_limit.per), mode: raw.rate_limit.mode ?? 'drop' },
      debounce: raw.debounce && { quiet_ms: parseDuration(raw.debounce.quiet) },
      inputs: raw.inputs ?? DEFAULT_TRIGGER_INPUTS,
      source: this.at(pointer),
    });
  }

  private test(raw: RawTest, pointer: string): WorkflowTestCase {
    const stub: WorkflowTestCase['stub'] = {};
    for (const [id, entry] of Object.entries(raw.stub ?? {})) {
      const error = typeof entry.error === 'string' ? { code: entry.error } : entry.error;
      stub[id] = compact({ output: entry.output, error });
    }
    return {
      name: raw.name,
      inputs: raw.inputs ?? {},
      stub,
      signals: raw.signals ?? {},
      expect: compact({ ...raw.expect }),
      source: this.at(pointer),
    };
  }
}

/** The manifest's retry over the default, a step's over the manifest's: field by field. */
function mergeRetry(base: RetryPolicy, raw: RawRetry | undefined): RetryPolicy {
  return {
    max_attempts: raw?.max_attempts ?? base.max_attempts,
    initial_interval_ms: raw?.initial_interval === undefined ? base.initial_interval_ms : parseDuration(raw.initial_interval),
    backoff_coefficient: raw?.backoff_coefficient ?? base.backoff_coefficient,
    max_interval_ms: raw?.max_interval === undefined ? base.max_interval_ms : parseDuration(raw.max_interval),
    non_retryable: [...(raw?.non_retryable ?? base.non_retryable)],
  };
}

/**
 * A sub-workflow step's retry: none (one attempt) unless the step writes `retry`, whose fields the manifest's `retry`
 * then fills. The manifest's `retry` is the default of action steps only (WORKFLOWS.md): each retry of a sub-workflow
 * is a fresh child run, whose effects happen again, so it is asked for step by step, never inherited (Temporal does
 * not retry child workflows by default either).
 */
function subworkflowRetry(inherited: RetryPolicy, raw: RawRetry | undefined): RetryPolicy {
  return raw === undefined ? { ...mergeRetry(inherited, undefined), max_attempts: 1 } : mergeRetry(inherited, raw);
}

/** Drops undefined members, so the stored JSON and deep-equality in tests see only what is there. */
function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
