import { createHash } from 'node:crypto';
import { EventSkipReason } from '@pancha/contracts';
import {
  type CompiledExpression,
  type CompiledTemplate,
  compileExpression,
  compileTemplate,
  MAX_RATE_LIMIT_MAX,
  MAX_TRIGGER_WINDOW_MS,
  renderTemplate,
  type TriggerSpec,
} from '@pancha/workflow-manifest';
import { isStateful, type FilterValues, type StatefulFilters } from './filters';

/** An event as CEL sees it (`event.type`, `event.data.score`, …). */
export interface RoutedEvent {
  id: string;
  type: string;
  source?: string;
  subject?: string;
  time: string;
  data: unknown;
}

/** A trigger of one workflow version, with its expressions compiled once (when the catalog changes). */
export interface CompiledTrigger {
  workflow: string;
  version: string;
  name: string;
  enabled: boolean;
  /** The exact type, or a prefix for `kpi.*`. */
  event: string;
  filters: StatefulFilters;
  stateful: boolean;
  key?: CompiledExpression;
  condition?: CompiledExpression;
  thresholdField?: CompiledExpression;
  deltaField?: CompiledExpression;
  inputs: CompiledTemplate;
}

/** Before the key's state: the key, the numbers the filters need and the run's inputs, or why the event stops here. */
export type Prefiltered =
  | { ok: true; key: string; values: FilterValues; inputs: unknown }
  | { ok: false; key: string | null; reason: EventSkipReason; detail: string };

/**
 * Throws when a CEL expression does not compile, or when a window or `rate_limit.max` is out of the validator's range:
 * the registry refuses such manifests, but a catalog mirrored from an older registry may hold one, and the filters'
 * times are within JavaScript's dates only for windows of at most 365 days.
 */
export function compileTrigger(workflow: string, version: string, enabled: boolean, spec: TriggerSpec): CompiledTrigger {
  checkBounds(spec);
  return {
    workflow,
    version,
    name: spec.name,
    enabled,
    event: spec.event,
    filters: { threshold: spec.threshold, delta: spec.delta, dedup: spec.dedup, rate_limit: spec.rate_limit, debounce: spec.debounce },
    stateful: isStateful(spec),
    key: spec.key === undefined ? undefined : compileExpression(spec.key),
    condition: spec.if === undefined ? undefined : compileExpression(spec.if),
    thresholdField: spec.threshold ? compileExpression(spec.threshold.field) : undefined,
    deltaField: spec.delta ? compileExpression(spec.delta.field) : undefined,
    inputs: compileTemplate(spec.inputs),
  };
}

function checkBounds(spec: TriggerSpec): void {
  const windows: [string, number | undefined][] = [
    ['dedup.window', spec.dedup?.window_ms],
    ['rate_limit.per', spec.rate_limit?.per_ms],
    ['debounce.quiet', spec.debounce?.quiet_ms],
  ];
  for (const [field, ms] of windows) {
    if (ms !== undefined && !(ms > 0 && ms <= MAX_TRIGGER_WINDOW_MS)) throw new Error(`${field} ${ms} ms is not a trigger window (more than 0, at most ${MAX_TRIGGER_WINDOW_MS} ms)`);
  }
  const max = spec.rate_limit?.max;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1 && max <= MAX_RATE_LIMIT_MAX)) throw new Error(`rate_limit.max ${max} is not 1 to ${MAX_RATE_LIMIT_MAX}`);
}

/** `kpi.*` matches `kpi.x` and `kpi.x.y`; `*` matches every type; anything else matches exactly. */
export function typeMatches(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/**
 * The stateless part of a trigger, in the manifest's order: enabled, `if`, then the key, the filter fields and the
 * inputs (an event whose fields cannot be evaluated is `invalid` and touches no state).
 */
export function prefilter(trigger: CompiledTrigger, event: RoutedEvent): Prefiltered {
  if (!trigger.enabled) return { ok: false, key: null, reason: EventSkipReason.WorkflowDisabled, detail: `${trigger.workflow} is disabled` };
  const scope = { event };
  if (trigger.condition) {
    let passed: boolean;
    try {
      // A bool or nothing: an int or the string "true" is this event's `invalid`, never taken as false.
      passed = trigger.condition.evaluateBool(scope);
    } catch (error) {
      return { ok: false, key: null, reason: EventSkipReason.Invalid, detail: `if: ${(error as Error).message}` };
    }
    if (!passed) return { ok: false, key: null, reason: EventSkipReason.ConditionFalse, detail: `if: ${trigger.condition.source}` };
  }
  let key = event.type;
  if (trigger.key) {
    try {
      const value = trigger.key.evaluate(scope);
      key = boundedKey(typeof value === 'string' ? value : JSON.stringify(value));
    } catch (error) {
      return { ok: false, key: null, reason: EventSkipReason.Invalid, detail: `key: ${(error as Error).message}` };
    }
  }
  const values: FilterValues = {};
  for (const [name, expression] of [['threshold', trigger.thresholdField], ['delta', trigger.deltaField]] as const) {
    if (!expression) continue;
    let value: unknown;
    try {
      value = expression.evaluate(scope);
    } catch (error) {
      return { ok: false, key, reason: EventSkipReason.Invalid, detail: `${name}.field: ${(error as Error).message}` };
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return { ok: false, key, reason: EventSkipReason.Invalid, detail: `${name}.field ${expression.source} is not a number` };
    }
    values[name] = value;
  }
  let inputs: unknown;
  try {
    inputs = renderTemplate(trigger.inputs, scope);
  } catch (error) {
    return { ok: false, key, reason: EventSkipReason.Invalid, detail: `inputs: ${(error as Error).message}` };
  }
  return { ok: true, key, values, inputs };
}

/** Longest key kept as written; a filter's state row is indexed by it, and an index entry holds at most ~2.7 kB. */
export const MAX_KEY_CHARS = 200;

/** `key` itself, or `sha256:<hex>` of it when it is longer than MAX_KEY_CHARS: the same events share the same key. */
export function boundedKey(key: string): string {
  return key.length <= MAX_KEY_CHARS ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}
