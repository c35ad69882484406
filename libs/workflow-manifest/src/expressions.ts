/**
 * CEL expressions and `{{ expr }}` templates for workflow manifests, on @marcbachmann/cel-js.
 *
 * One shared Environment: the scope variables are declared `dyn`, so a typo in a variable or function name is
 * a compile error, and nothing that can reach the process, the network or the file system is registered (every
 * function here is pure and synchronous). JSON numbers are made CEL-friendly on the way in (safe integers become
 * CEL ints, so `inputs.n + 1` works) and JS-friendly on the way out (ints become numbers).
 */
import { Environment, EvaluationError, Optional, ParseError, TypeError as CelTypeError } from '@marcbachmann/cel-js';
import type { ASTNode } from '@marcbachmann/cel-js';

/** The names an expression can see; which of them are available depends on where it is written. */
export const SCOPE_VARIABLES = ['inputs', 'steps', 'run', 'item', 'index', 'event', 'secrets'] as const;
export type ScopeVariable = (typeof SCOPE_VARIABLES)[number];

export interface ExpressionScope {
  inputs?: unknown;
  steps?: Record<string, { output?: unknown; status?: string; error?: unknown }>;
  run?: { id: string; trace_id: string; workflow: string; version: string; user_id: string; product?: string | null; error?: unknown };
  item?: unknown;
  index?: number;
  event?: unknown;
  secrets?: Record<string, string>;
}

export interface ExpressionReferences {
  /** Scope variables the expression reads (`inputs`, `steps`, …), macro variables excluded. */
  roots: string[];
  /** Step ids read as `steps.<id>` or `steps["<id>"]`. */
  steps: string[];
  /** Secret names read as `secrets.<NAME>` or `secrets["<NAME>"]`. */
  secrets: string[];
  /** `steps` used other than with a literal id (`steps[inputs.k]`, `steps` alone): any step may be read. */
  dynamicSteps: boolean;
  /** `secrets` used other than with a literal name: any secret may be read. */
  dynamicSecrets: boolean;
  /**
   * Every place the scope is read, as `[root, key, …]` select chains (`steps.a.output.x` → ['steps','a','output','x']);
   * a chain ends where the value is used whole. Only these parts of the scope are converted for evaluation.
   */
  paths: string[][];
}

export interface CompiledExpression {
  /** The bare CEL source (a `{{ }}` wrapper around the whole string is removed). */
  readonly source: string;
  /**
   * The type the checker infers for the result (`bool`, `int`, `string`, `list(dyn)`, …), or `dyn` when it depends
   * on the data (the scope variables are `dyn`): `inputs.n > 1` is `bool`, `inputs.n + 1` is `int`, `inputs.n` `dyn`.
   */
  readonly type: string;
  evaluate(scope: ExpressionScope): unknown;
  /**
   * Evaluates a condition (`if`, a switch case's `when`): CEL is typed, so a result that is not a bool (an int, a
   * string "true", null) throws ExpressionEvaluationError with code `not_a_bool` ("must be a bool, got int")
   * instead of being taken as false.
   */
  evaluateBool(scope: ExpressionScope): boolean;
  references(): ExpressionReferences;
}

/** The code of the ExpressionEvaluationError a condition whose value is not a bool throws (evaluateBool). */
export const NOT_A_BOOL = 'not_a_bool';

/**
 * Whether a checked type can be a bool at run time: `bool` itself, or `dyn` (it depends on the data). Any other type
 * (`int`, `string`, `null`, `list(int)`, …) never is, so a condition of that type is wrong whatever the data.
 */
export function canBeBool(type: string): boolean {
  return type === 'bool' || type === 'dyn';
}

/** The CEL name of a value's type as an expression produced it: `int`, `double`, `string`, `bool`, `null`, `list`, `map`, … */
export function celTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      return 'int';
    case 'number':
      return 'double';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    default:
      break;
  }
  if (Array.isArray(value)) return 'list';
  if (value instanceof Optional) return 'optional_type';
  if (value instanceof Date) return 'google.protobuf.Timestamp';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Map || isPlainObject(value as object)) return 'map';
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  if (name === 'UnsignedInt') return 'uint';
  if (name === 'Duration') return 'google.protobuf.Duration';
  return typeof name === 'string' && name !== '' ? name : 'dyn';
}

export interface CompiledTemplate {
  /** The value the template was compiled from. */
  readonly value: unknown;
  /** False when no string in the value holds a `{{ }}`: rendering returns a copy of the value. */
  readonly hasExpressions: boolean;
  references(): ExpressionReferences;
}

export interface RenderOptions {
  /** `redact`: every secret evaluates to the string `[secret:NAME]`, so the result can be stored and logged. */
  secrets?: 'reveal' | 'redact';
}

/** Parse limits: enough for any real condition, and a hostile expression is refused in a few milliseconds. */
export const EXPRESSION_LIMITS = {
  maxSourceLength: 8_192,
  cel: { maxAstNodes: 2_000, maxDepth: 64, maxListElements: 1_000, maxMapEntries: 1_000, maxCallArguments: 32 },
} as const;

export class ExpressionSyntaxError extends Error {
  override readonly name = 'ExpressionSyntaxError';
  constructor(
    message: string,
    /** The expression (or template string) that failed. */
    readonly source: string,
    /** 1-based column in `source` (for a template: in the whole string). */
    readonly column: number,
    readonly code: string,
    /** JSON pointer inside the compiled template value ('' for the value itself). */
    readonly path = '',
  ) {
    super(message);
  }
}

export class ExpressionEvaluationError extends Error {
  override readonly name = 'ExpressionEvaluationError';
  constructor(
    message: string,
    readonly source: string,
    readonly code: string,
    /** JSON pointer inside the rendered template value ('' for the value itself). */
    readonly path = '',
  ) {
    super(message);
  }
}

const SCOPE_VARIABLE_SET: ReadonlySet<string> = new Set(SCOPE_VARIABLES);
const MACROS_WITH_VARIABLE = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

function createEnvironment(): Environment {
  const env = new Environment({
    unlistedVariablesAreDyn: false,
    homogeneousAggregateLiterals: false,
    enableOptionalTypes: true,
    limits: { ...EXPRESSION_LIMITS.cel },
  });
  for (const name of SCOPE_VARIABLES) env.registerVariable(name, 'dyn');
  // JSON does not say whether 2 is an int or a double, so `event.data.score * 2.0` must work whichever arrived.
  const arithmetic: Record<string, (a: number, b: number) => number> = {
    '+': (a, b) => a + b,
    '-': (a, b) => a - b,
    '*': (a, b) => a * b,
    '/': (a, b) => a / b,
  };
  for (const [op, fn] of Object.entries(arithmetic)) {
    env.registerOperator(`int ${op} double`, (a: bigint, b: number) => fn(Number(a), b));
    env.registerOperator(`double ${op} int`, (a: number, b: bigint) => fn(a, Number(b)));
  }
  env.registerFunction('string.lower(): string', (s: string) => s.toLowerCase());
  env.registerFunction('string.upper(): string', (s: string) => s.toUpperCase());
  env.registerFunction('string.replace(string, string): string', (s: string, from: string, to: string) =>
    from === '' ? s : s.split(from).join(to),
  );
  return env;
}

const environment = createEnvironment();

// ---------------------------------------------------------------------------------------------------------------
// Values in and out of CEL

const MAX_VALUE_DEPTH = 128;

/** JSON → CEL: safe integers become ints (BigInt), undefined object members are dropped (so `has()` is false). */
export function toCelValue(value: unknown, depth = 0): unknown {
  if (depth > MAX_VALUE_DEPTH) throw new ExpressionEvaluationError(`value nested deeper than ${MAX_VALUE_DEPTH} levels`, '', 'value_too_deep');
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value === undefined ? null : value;
  if (Array.isArray(value)) return value.map((v) => toCelValue(v, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  let reserved = false;
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    reserved ||= isReservedMember(k);
    setMember(out, k, toCelValue(v, depth + 1));
  }
  return reserved ? celMapOf(out) : out;
}

/**
 * Member names JSON may hold (a run's inputs, a provider's answer) that a plain object cannot carry into CEL as
 * data: `out[k] = v` with `__proto__` sets the prototype, and cel-js reads a value's type from its `constructor`.
 */
function isReservedMember(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

/** `out[key] = value` as an own data property whatever the key: `__proto__` never becomes the prototype. */
export function setMember(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * cel-js builds a map literal as a plain object and drops a `__proto__`, `constructor` or `prototype` key from it
 * silently (`{"constructor": 1}` is `{}`), so such a literal is refused where it is written, naming the key. Data
 * holding those members is read as sent (celMapOf); a key computed at run time (`{inputs.k: v}`) is dropped by CEL.
 */
function refuseReservedMapKeys(text: string, offset: number, ast: ASTNode): void {
  const stack: unknown[] = [ast];
  while (stack.length) {
    const node = stack.pop();
    if (!node || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    const n = node as { op?: unknown; args?: unknown; pos?: unknown };
    if (n.op === 'map' && Array.isArray(n.args)) {
      for (const entry of n.args) {
        const key = Array.isArray(entry) ? (entry[0] as { op?: unknown; args?: unknown; pos?: unknown }) : undefined;
        if (key?.op === 'value' && typeof key.args === 'string' && isReservedMember(key.args)) {
          throw new ExpressionSyntaxError(
            `a map literal cannot hold the key "${key.args}": CEL would drop it (data holding such a member is read as sent)`,
            text,
            offset + (typeof key.pos === 'number' ? key.pos : 0) + 1,
            'reserved_map_key',
          );
        }
      }
    }
    if (n.op !== 'value') stack.push(n.args);
  }
}

/** An object holding a reserved member, as a CEL map (a Map: cel-js types it by what it is, not by `constructor`). */
function celMapOf(out: Record<string, unknown>): Map<string, unknown> {
  return new Map(Object.keys(out).map((k) => [k, out[k]]));
}

/**
 * CEL → JSON: ints become numbers (or a decimal string beyond ±2^53, to keep every digit), timestamps ISO
 * strings, durations CEL strings (`90s`), bytes base64, optionals their value (or null), maps plain objects.
 */
export function fromCelValue(value: unknown, depth = 0): unknown {
  if (depth > MAX_VALUE_DEPTH) throw new ExpressionEvaluationError(`value nested deeper than ${MAX_VALUE_DEPTH} levels`, '', 'value_too_deep');
  if (typeof value === 'bigint') return bigintToJson(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => fromCelValue(v, depth + 1));
  if (value instanceof Optional) return value.hasValue() ? fromCelValue(value.value(), depth + 1) : null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) setMember(out, String(k), fromCelValue(v, depth + 1));
    return out;
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) setMember(out, k, fromCelValue(v, depth + 1));
    return out;
  }
  // cel-js wrappers: UnsignedInt (valueOf → bigint), Duration (toString → "90s"), type values.
  const primitive = (value as { valueOf(): unknown }).valueOf();
  if (typeof primitive === 'bigint') return bigintToJson(primitive);
  return String(value);
}

function bigintToJson(value: bigint): number | string {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value.toString();
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------------------------------------------------------
// Expressions

type CelProgram = ((context: Record<string, unknown>) => unknown) & { ast: ASTNode; check(): { valid: boolean; type?: string; error?: Error } };

class CelExpression implements CompiledExpression {
  private refs?: ExpressionReferences;

  constructor(
    readonly source: string,
    private readonly program: CelProgram,
    readonly type: string,
  ) {}

  evaluate(scope: ExpressionScope): unknown {
    return fromCelValue(this.run(celScope(scope, this.references(), 'reveal')));
  }

  evaluateBool(scope: ExpressionScope): boolean {
    const value = this.run(celScope(scope, this.references(), 'reveal'));
    if (typeof value === 'boolean') return value;
    throw new ExpressionEvaluationError(`must be a bool, got ${celTypeName(value)} (${this.source.trim()})`, this.source, NOT_A_BOOL);
  }

  /** Evaluates against a scope already converted by celScope (templates convert once for all their expressions). */
  run(context: Record<string, unknown>): unknown {
    try {
      return this.program(context);
    } catch (error) {
      throw evaluationError(this.source, error);
    }
  }

  references(): ExpressionReferences {
    this.refs ??= collectReferences(this.program.ast);
    return this.refs;
  }
}

const EXPRESSION_CACHE_SIZE = 5_000;
const expressionCache = new Map<string, CelExpression>();

/**
 * Compiles (and type-checks) one CEL expression. A string that is exactly one `{{ expr }}` is accepted too, so
 * `if: "{{ inputs.x }}"` means the same as `if: inputs.x`. Throws ExpressionSyntaxError. Cached by source.
 */
export function compileExpression(source: string): CompiledExpression {
  return compileCel(source);
}

function compileCel(text: string): CelExpression {
  const cached = expressionCache.get(text);
  if (cached) {
    // Re-inserting keeps the Map's order least-recently-used first, so eviction drops the coldest entry.
    expressionCache.delete(text);
    expressionCache.set(text, cached);
    return cached;
  }
  if (typeof text !== 'string') throw new ExpressionSyntaxError('an expression must be a string', String(text), 1, 'not_a_string');
  const { source, offset } = unwrapSingleTemplate(text);
  if (source.trim() === '') throw new ExpressionSyntaxError('the expression is empty', text, offset + 1, 'empty_expression');
  if (source.length > EXPRESSION_LIMITS.maxSourceLength) {
    throw new ExpressionSyntaxError(
      `the expression is ${source.length} characters long; the limit is ${EXPRESSION_LIMITS.maxSourceLength}`,
      text,
      1,
      'expression_too_long',
    );
  }
  let program: CelProgram;
  try {
    program = environment.parse(source) as CelProgram;
  } catch (error) {
    throw syntaxError(text, source, offset, error);
  }
  const checked = program.check();
  if (!checked.valid) throw syntaxError(text, source, offset, checked.error);
  refuseReservedMapKeys(text, offset, program.ast);
  const compiled = new CelExpression(source, program, checked.type ?? 'dyn');
  expressionCache.set(text, compiled);
  if (expressionCache.size > EXPRESSION_CACHE_SIZE) {
    const oldest = expressionCache.keys().next().value;
    if (oldest !== undefined) expressionCache.delete(oldest);
  }
  return compiled;
}

/** The bare CEL source of a value written for `if`, `foreach`, `key`…: a `{{ }}` around the whole string is removed. */
export function unwrapExpression(text: string): string {
  return unwrapSingleTemplate(text).source;
}

function unwrapSingleTemplate(text: string): { source: string; offset: number } {
  if (!text.includes('{{')) return { source: text, offset: 0 };
  let segments: TemplateSegment[];
  try {
    segments = scanTemplate(text);
  } catch {
    return { source: text, offset: 0 }; // not a template after all; CEL reports the real problem
  }
  if (segments.length === 1 && segments[0].kind === 'expr') return { source: segments[0].text, offset: segments[0].offset };
  return { source: text, offset: 0 };
}

function syntaxError(text: string, source: string, offset: number, error: unknown): ExpressionSyntaxError {
  if (error instanceof ParseError || error instanceof CelTypeError || error instanceof EvaluationError) {
    const start = error.range?.start ?? error.node?.start ?? 0;
    const column = offset + start + 1;
    const summary = lowerFirst(error.summary ?? error.message.split('\n')[0]);
    const near = source.slice(error.range?.start ?? 0, error.range?.end ?? 0).trim();
    return new ExpressionSyntaxError(
      `invalid expression at column ${column}: ${summary}${near && near !== source.trim() && near.length <= 60 && !summary.includes(near) ? ` (at "${near}")` : ''}`,
      text,
      column,
      error.code || 'syntax_error',
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ExpressionSyntaxError(`invalid expression: ${message}`, text, offset + 1, 'syntax_error');
}

function evaluationError(source: string, error: unknown): ExpressionEvaluationError {
  if (error instanceof ExpressionEvaluationError) return error;
  if (error instanceof EvaluationError || error instanceof CelTypeError) {
    const node = error.node;
    const at = node ? source.slice(node.start, node.end) : '';
    const summary = lowerFirst(error.summary ?? error.message.split('\n')[0]);
    if (error.code === 'no_such_key' && /^secrets\s*(\.|\[)/.test(at)) {
      return new ExpressionEvaluationError(
        `${summary} in ${at}: the secret is not set (declare it in security.secrets and provide it in the environment or the secrets file)`,
        source,
        'secret_unavailable',
      );
    }
    if (error.code === 'unknown_variable') {
      return new ExpressionEvaluationError(`${at || 'a variable'} is not available here (${source})`, source, 'unavailable_variable');
    }
    return new ExpressionEvaluationError(at && at !== source.trim() ? `${summary} in ${at}` : `${summary} in ${source.trim()}`, source, error.code || 'evaluation_error');
  }
  // A RangeError from a runaway expression (a string or list too large) is reported, never thrown raw.
  const message = error instanceof Error ? error.message : String(error);
  return new ExpressionEvaluationError(`${message} in ${source.trim()}`, source, 'evaluation_error');
}

function lowerFirst(text: string): string {
  return text.length > 1 && /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}

interface NeedNode {
  /** The value here is read whole (compared, sized, iterated, …): convert all of it. */
  full: boolean;
  children: Map<string, NeedNode>;
}

const needTrees = new WeakMap<ExpressionReferences, Map<string, NeedNode>>();

function needTree(refs: ExpressionReferences): Map<string, NeedNode> {
  let roots = needTrees.get(refs);
  if (roots) return roots;
  roots = new Map();
  for (const [root, ...keys] of refs.paths) {
    let node = roots.get(root);
    if (!node) roots.set(root, (node = { full: false, children: new Map() }));
    for (const key of keys) {
      if (node.full) break;
      let child = node.children.get(key);
      if (!child) node.children.set(key, (child = { full: false, children: new Map() }));
      node = child;
    }
    node.full = true;
  }
  needTrees.set(refs, roots);
  return roots;
}

/** Converts only what the expression can observe: a run's scope may hold many large step outputs. */
function convertNeeded(value: unknown, need: NeedNode): unknown {
  if (need.full || value === null || typeof value !== 'object' || Array.isArray(value) || !isPlainObject(value)) return toCelValue(value);
  const out: Record<string, unknown> = {};
  let reserved = false;
  for (const [key, child] of need.children) {
    if (!Object.prototype.hasOwnProperty.call(value, key) || value[key] === undefined) continue;
    reserved ||= isReservedMember(key);
    setMember(out, key, convertNeeded(value[key], child));
  }
  return reserved ? celMapOf(out) : out;
}

function celScope(scope: ExpressionScope, refs: ExpressionReferences, secrets: 'reveal' | 'redact'): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  for (const [root, need] of needTree(refs)) {
    const value = (scope as Record<string, unknown>)[root];
    if (root === 'secrets') {
      const values = (value ?? {}) as Record<string, string>;
      if (secrets === 'redact') {
        const redacted: Record<string, string> = {};
        for (const name of new Set([...Object.keys(values), ...refs.secrets])) redacted[name] = `[secret:${name}]`;
        context.secrets = redacted;
      } else {
        context.secrets = { ...values };
      }
    } else if (root === 'inputs' || root === 'steps') {
      context[root] = convertNeeded(value ?? {}, need);
    } else if (value !== undefined) {
      context[root] = convertNeeded(value, need);
    }
  }
  return context;
}

function collectReferences(ast: ASTNode): ExpressionReferences {
  const roots = new Set<string>();
  const steps = new Set<string>();
  const secrets = new Set<string>();
  const paths: string[][] = [];
  let dynamicSteps = false;
  let dynamicSecrets = false;

  /** `[root, key, …]` when the node is a chain of selects with literal keys off a free scope variable. */
  const chainOf = (node: ASTNode, bound: ReadonlySet<string>): string[] | undefined => {
    const keys: string[] = [];
    let n = node;
    for (;;) {
      if (n.op === '.' || n.op === '.?') {
        keys.unshift(n.args[1]);
        n = n.args[0];
      } else if ((n.op === '[]' || n.op === '[?]') && n.args[1].op === 'value' && typeof n.args[1].args === 'string') {
        keys.unshift(n.args[1].args);
        n = n.args[0];
      } else break;
    }
    if (n.op !== 'id' || bound.has(n.args) || !SCOPE_VARIABLE_SET.has(n.args)) return undefined;
    return [n.args, ...keys];
  };
  const record = (chain: string[]) => {
    paths.push(chain);
    roots.add(chain[0]);
    if (chain[0] === 'steps') {
      if (chain.length > 1) steps.add(chain[1]);
      else dynamicSteps = true;
    } else if (chain[0] === 'secrets') {
      if (chain.length > 1) secrets.add(chain[1]);
      else dynamicSecrets = true;
    }
  };

  const walk = (node: unknown, bound: ReadonlySet<string>): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const child of node) walk(child, bound);
      return;
    }
    const n = node as ASTNode;
    if (n.op === 'id' || n.op === '.' || n.op === '.?' || n.op === '[]' || n.op === '[?]') {
      const chain = chainOf(n, bound);
      if (chain) {
        record(chain);
        return;
      }
    }
    switch (n.op) {
      case 'id':
      case 'value':
        return;
      case 'rcall': {
        const [name, receiver, args] = n.args;
        const variable = args[0];
        if (MACROS_WITH_VARIABLE.has(name) && args.length >= 2 && variable.op === 'id') {
          walk(receiver, bound);
          const inner = new Set(bound).add(variable.args);
          for (const arg of args.slice(1)) walk(arg, inner);
          return;
        }
        if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel' && args.length === 3 && variable.op === 'id') {
          walk(args[1], bound);
          walk(args[2], new Set(bound).add(variable.args));
          return;
        }
        walk(receiver, bound);
        walk(args, bound);
        return;
      }
      case 'call':
        walk(n.args[1], bound);
        return;
      default:
        walk(n.args, bound);
    }
  };
  walk(ast, new Set());
  return { roots: [...roots], steps: [...steps], secrets: [...secrets], dynamicSteps, dynamicSecrets, paths };
}

// ---------------------------------------------------------------------------------------------------------------
// Templates

type TemplateSegment = { kind: 'text'; text: string } | { kind: 'expr'; text: string; offset: number };

/** Splits a string into text and `{{ expr }}` parts; `}}` inside CEL strings or map literals does not end an expression. */
function scanTemplate(text: string): TemplateSegment[] {
  const segments: TemplateSegment[] = [];
  let literalStart = 0;
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) break;
    if (open > literalStart) segments.push({ kind: 'text', text: text.slice(literalStart, open) });
    const start = open + 2;
    const end = findExpressionEnd(text, start);
    if (end < 0) throw new ExpressionSyntaxError(`unterminated "{{" at column ${open + 1}: add the closing "}}"`, text, open + 1, 'unterminated_template');
    const inner = text.slice(start, end);
    const leading = inner.length - inner.trimStart().length;
    if (inner.trim() === '') throw new ExpressionSyntaxError(`empty "{{ }}" at column ${open + 1}`, text, open + 1, 'empty_expression');
    segments.push({ kind: 'expr', text: inner.trim(), offset: start + leading });
    i = end + 2;
    literalStart = i;
  }
  if (literalStart < text.length) segments.push({ kind: 'text', text: text.slice(literalStart) });
  return segments;
}

function findExpressionEnd(text: string, from: number): number {
  let depth = 0;
  let i = from;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i = skipString(text, i);
      continue;
    }
    if (c === '{') depth += 1;
    else if (c === '}') {
      if (depth > 0) depth -= 1;
      else if (text[i + 1] === '}') return i;
    }
    i += 1;
  }
  return -1;
}

/** Index just after the CEL string literal starting at `at` (single, double or triple quoted; raw with r/R). */
function skipString(text: string, at: number): number {
  const quote = text[at];
  const triple = text.startsWith(quote.repeat(3), at);
  const delimiter = triple ? quote.repeat(3) : quote;
  const prefix = text.slice(Math.max(0, at - 2), at).toLowerCase();
  const raw = /(^|[^a-z0-9_])b?r$|^rb$/.test(prefix) || prefix === 'r';
  let i = at + delimiter.length;
  while (i < text.length) {
    if (!raw && text[i] === '\\') {
      i += 2;
      continue;
    }
    if (text.startsWith(delimiter, i)) return i + delimiter.length;
    if (!triple && text[i] === '\n') return i;
    i += 1;
  }
  return text.length;
}

type TemplateNode =
  | { t: 'literal'; value: unknown }
  | { t: 'expr'; expr: CelExpression; path: string }
  | { t: 'interp'; parts: (string | CelExpression)[]; path: string }
  | { t: 'array'; items: TemplateNode[] }
  | { t: 'object'; entries: [string, TemplateNode][] };

class Template implements CompiledTemplate {
  private refs?: ExpressionReferences;

  constructor(
    readonly value: unknown,
    readonly node: TemplateNode,
    private readonly expressions: CelExpression[],
  ) {}

  get hasExpressions(): boolean {
    return this.expressions.length > 0;
  }

  references(): ExpressionReferences {
    this.refs ??= mergeReferences(this.expressions.map((e) => e.references()));
    return this.refs;
  }

  render(scope: ExpressionScope, opts: RenderOptions): unknown {
    const context = this.expressions.length > 0 ? celScope(scope, this.references(), opts.secrets ?? 'reveal') : {};
    return renderNode(this.node, context);
  }
}

function renderNode(node: TemplateNode, context: Record<string, unknown>): unknown {
  switch (node.t) {
    case 'literal':
      return node.value;
    case 'expr':
      return fromCelValue(runAt(node.expr, context, node.path));
    case 'interp':
      return node.parts.map((part) => (typeof part === 'string' ? part : interpolate(fromCelValue(runAt(part, context, node.path))))).join('');
    case 'array':
      return node.items.map((item) => renderNode(item, context));
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, child] of node.entries) setMember(out, key, renderNode(child, context));
      return out;
    }
  }
}

function runAt(expr: CelExpression, context: Record<string, unknown>, path: string): unknown {
  try {
    return expr.run(context);
  } catch (error) {
    if (error instanceof ExpressionEvaluationError && path) {
      throw new ExpressionEvaluationError(`${pointerToDotted(path)}: ${error.message}`, error.source, error.code, path);
    }
    throw error;
  }
}

/** How a value reads inside a larger string: null is empty, objects and lists are JSON. */
function interpolate(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function pointerToDotted(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

const templateCache = new WeakMap<object, Template>();

/**
 * Compiles every `{{ expr }}` in a value (strings at any depth of objects and arrays). A string that is exactly
 * one `{{ expr }}` renders to the expression's value with its type; other strings interpolate. Throws the first
 * ExpressionSyntaxError (its `path` says where); `templateErrors` lists them all.
 */
export function compileTemplate(value: unknown): CompiledTemplate {
  if (value !== null && typeof value === 'object') {
    const cached = templateCache.get(value);
    if (cached) return cached;
  }
  const expressions: CelExpression[] = [];
  const errors: ExpressionSyntaxError[] = [];
  const node = compileNode(value, '', expressions, errors, 0);
  if (errors.length > 0) throw errors[0];
  const template = new Template(value, node, expressions);
  if (value !== null && typeof value === 'object') templateCache.set(value, template);
  return template;
}

/** Every syntax error in a template value, each with the JSON pointer of the string it is in. */
export function templateErrors(value: unknown): ExpressionSyntaxError[] {
  const errors: ExpressionSyntaxError[] = [];
  compileNode(value, '', [], errors, 0);
  return errors;
}

function compileNode(value: unknown, path: string, expressions: CelExpression[], errors: ExpressionSyntaxError[], depth: number): TemplateNode {
  if (depth > MAX_VALUE_DEPTH) {
    errors.push(new ExpressionSyntaxError(`template nested deeper than ${MAX_VALUE_DEPTH} levels`, '', 1, 'template_too_deep', path));
    return { t: 'literal', value: null };
  }
  if (typeof value === 'string') return compileString(value, path, expressions, errors);
  if (Array.isArray(value)) return { t: 'array', items: value.map((v, i) => compileNode(v, `${path}/${i}`, expressions, errors, depth + 1)) };
  if (value !== null && typeof value === 'object' && isPlainObject(value)) {
    return {
      t: 'object',
      entries: Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, compileNode(v, `${path}/${escapePointerToken(k)}`, expressions, errors, depth + 1)]),
    };
  }
  return { t: 'literal', value };
}

function compileString(text: string, path: string, expressions: CelExpression[], errors: ExpressionSyntaxError[]): TemplateNode {
  if (!text.includes('{{')) return { t: 'literal', value: text };
  let segments: TemplateSegment[];
  try {
    segments = scanTemplate(text);
  } catch (error) {
    errors.push(withPath(error as ExpressionSyntaxError, path));
    return { t: 'literal', value: text };
  }
  const parts: (string | CelExpression)[] = [];
  for (const segment of segments) {
    if (segment.kind === 'text') {
      parts.push(segment.text);
      continue;
    }
    try {
      const expr = compileCel(segment.text);
      expressions.push(expr);
      parts.push(expr);
    } catch (error) {
      const e = error as ExpressionSyntaxError;
      // Columns are re-based on the whole string, where the user sees them.
      const column = segment.offset + e.column;
      errors.push(new ExpressionSyntaxError(e.message.replace(/at column \d+/, `at column ${column}`), text, column, e.code, path));
    }
  }
  if (parts.length === 1 && typeof parts[0] !== 'string') return { t: 'expr', expr: parts[0], path };
  return { t: 'interp', parts, path };
}

function withPath(error: ExpressionSyntaxError, path: string): ExpressionSyntaxError {
  return new ExpressionSyntaxError(error.message, error.source, error.column, error.code, path);
}

/** Renders a compiled template against a scope. Throws ExpressionEvaluationError naming the field and expression. */
export function renderTemplate(template: CompiledTemplate, scope: ExpressionScope, opts: RenderOptions = {}): unknown {
  if (!(template instanceof Template)) throw new TypeError('renderTemplate needs a template from compileTemplate()');
  return template.render(scope, opts);
}

export function templateReferences(template: CompiledTemplate): ExpressionReferences {
  return template.references();
}

/** True when the string holds at least one `{{ … }}`. */
export function isExpressionString(value: unknown): value is string {
  return typeof value === 'string' && value.includes('{{') && /\{\{[\s\S]*\}\}/.test(value);
}

export function mergeReferences(all: readonly ExpressionReferences[]): ExpressionReferences {
  const roots = new Set<string>();
  const steps = new Set<string>();
  const secrets = new Set<string>();
  const paths: string[][] = [];
  let dynamicSteps = false;
  let dynamicSecrets = false;
  for (const r of all) {
    r.roots.forEach((x) => roots.add(x));
    r.steps.forEach((x) => steps.add(x));
    r.secrets.forEach((x) => secrets.add(x));
    paths.push(...r.paths);
    dynamicSteps ||= r.dynamicSteps;
    dynamicSecrets ||= r.dynamicSecrets;
  }
  return { roots: [...roots], steps: [...steps], secrets: [...secrets], dynamicSteps, dynamicSecrets, paths };
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets

export const REDACTED = '[REDACTED]';

/** Deep copy of `value` with every occurrence of every secret value (4 characters or more) in its strings replaced by `[REDACTED]`. */
export function redactSecrets<T>(value: T, secretValues: readonly string[]): T {
  const needles = [...new Set(secretValues.filter((s) => typeof s === 'string' && s.length >= 4))].sort((a, b) => b.length - a.length);
  if (needles.length === 0) return value;
  const redact = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join(REDACTED);
      return out;
    }
    if (v === null || typeof v !== 'object' || depth > MAX_VALUE_DEPTH) return v;
    if (Array.isArray(v)) return v.map((x) => redact(x, depth + 1));
    if (!isPlainObject(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setMember(out, k, redact(x, depth + 1));
    return out;
  };
  return redact(value, 0) as T;
}
