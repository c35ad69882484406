/**
 * JSON Schema (draft 2020-12) for a workflow's `inputs` and `outputs`: validation with field-by-field errors,
 * and the compatibility question the registry asks when a new version is registered.
 */
import { createHash } from 'node:crypto';
import Ajv2020, { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { FieldError } from '@pancha/contracts';
import { canonicalJson } from './canonical-json';
import type { JsonSchema } from './manifest.types';

export class JsonSchemaError extends Error {
  override readonly name = 'JsonSchemaError';
}

// User schemas: strict mode off (unknown keywords are annotations), no remote $ref loading (no network).
// Logger off: a service must not print ajv's warnings (an unknown format is ignored, as draft 2020-12 allows).
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true, logger: false });
addFormats(ajv);

const VALIDATOR_CACHE_SIZE = 1_000;
const validators = new Map<string, ValidateFunction>();

export type JsonSchemaValidator = (value: unknown) => FieldError[];

/**
 * Compiles a user schema into a validator that names every bad field (`inputs.email`, `inputs.items.2.id`; a
 * missing required property by its own path). Throws JsonSchemaError when the schema itself is invalid.
 */
export function compileJsonSchema(schema: JsonSchema, opts: { rootName?: string } = {}): JsonSchemaValidator {
  const rootName = opts.rootName ?? 'inputs';
  const validate = compiled(schema);
  return (value: unknown) => {
    if (validate(value)) return [];
    return toFieldErrors(validate.errors ?? [], rootName);
  };
}

/** Null when the schema compiles, else the reason (for the manifest's validation findings). */
export function jsonSchemaProblem(schema: unknown): string | null {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    return 'a JSON Schema must be an object or a boolean';
  }
  try {
    compiled(schema as JsonSchema);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

function compiled(schema: JsonSchema): ValidateFunction {
  const key = createHash('sha256').update(canonicalJson(schema)).digest('hex');
  const hit = validators.get(key);
  if (hit) return hit;
  let validate: ValidateFunction;
  try {
    // A schema's own $id would collide with the same $id compiled before; the cache key already identifies it.
    const copy = typeof schema === 'object' && schema !== null && '$id' in schema ? Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$id')) : schema;
    validate = ajv.compile(copy);
  } catch (error) {
    throw new JsonSchemaError(`invalid JSON Schema: ${(error as Error).message}`);
  }
  validators.set(key, validate);
  if (validators.size > VALIDATOR_CACHE_SIZE) {
    const oldest = validators.keys().next().value;
    if (oldest !== undefined) validators.delete(oldest);
  }
  return validate;
}

function toFieldErrors(errors: ErrorObject[], rootName: string): FieldError[] {
  const byField = new Map<string, string[]>();
  const add = (field: string, message: string) => {
    const list = byField.get(field) ?? [];
    if (!list.includes(message)) list.push(message);
    byField.set(field, list);
  };
  for (const error of errors) {
    const base = pointerToField(error.instancePath, rootName);
    switch (error.keyword) {
      case 'required':
        add(`${base}.${String(error.params.missingProperty)}`, 'is required');
        break;
      case 'additionalProperties':
        add(`${base}.${String(error.params.additionalProperty)}`, 'is not allowed');
        break;
      case 'unevaluatedProperties':
        add(`${base}.${String(error.params.unevaluatedProperty)}`, 'is not allowed');
        break;
      case 'dependentRequired':
        add(`${base}.${String(error.params.missingProperty)}`, `is required when ${String(error.params.property)} is present`);
        break;
      case 'enum':
        add(base, `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
        break;
      case 'if':
      case 'anyOf':
      case 'oneOf':
        // Their sub-errors are already reported one by one; the summary adds a reason a user can act on only alone.
        if (!errors.some((e) => e !== error && e.instancePath === error.instancePath && e.keyword !== error.keyword)) add(base, error.message ?? 'is invalid');
        break;
      default:
        add(base, error.message ?? 'is invalid');
    }
  }
  return [...byField].map(([field, messages]) => ({ field, messages }));
}

function pointerToField(pointer: string, rootName: string): string {
  if (!pointer) return rootName;
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return [rootName, ...parts].join('.');
}

// ---------------------------------------------------------------------------------------------------------------
// Compatibility

export interface SchemaChange {
  /** JSON pointer into the NEW schema where the change is (e.g. `/properties/email`). */
  pointer: string;
  /** Field path as callers know it (`inputs.email`). */
  field: string;
  message: string;
}

export interface InputsCompatibility {
  /** True when `next` may reject a value that `previous` accepted. */
  breaking: boolean;
  /** One line per breaking change: `inputs.email: is now required`. */
  reasons: string[];
  /** The same, with where each change is in the new schema. */
  changes: SchemaChange[];
  /**
   * Changes that break only a caller who sent a property the previous schema did not describe (a new property with
   * constraints on an object that allowed any extra property). Not counted as breaking.
   */
  warnings: string[];
}

const UNCOMPARABLE_KEYWORDS = [
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  '$ref',
  '$dynamicRef',
  'dependentRequired',
  'dependentSchemas',
  'patternProperties',
  'propertyNames',
  'unevaluatedProperties',
  'unevaluatedItems',
  'contains',
  'minContains',
  'maxContains',
] as const;

const LOWER_BOUNDS = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties'] as const;
const UPPER_BOUNDS = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties'] as const;

type SchemaObject = Record<string, unknown>;

/** Would `next` reject something `previous` accepted? (The question a minor version must answer "no" to.) */
export function inputsCompatibility(previous: JsonSchema | undefined, next: JsonSchema | undefined, rootName = 'inputs'): InputsCompatibility {
  const changes: SchemaChange[] = [];
  const warnings: string[] = [];
  compareSchemas(previous ?? true, next ?? true, '', rootName, changes, warnings);
  return { breaking: changes.length > 0, reasons: changes.map((c) => `${c.field}: ${c.message}`), changes, warnings };
}

function compareSchemas(prev: unknown, next: unknown, pointer: string, field: string, changes: SchemaChange[], warnings: string[]): void {
  const add = (message: string, at = pointer): void => {
    changes.push({ pointer: at, field, message });
  };
  if (prev === false || canonicalJson(prev ?? true) === canonicalJson(next ?? true)) return; // nothing accepted before, or no change
  if (next === true || next === undefined || (isObject(next) && Object.keys(next).length === 0)) return; // accepts anything now
  if (next === false) return add('no value is accepted any more');
  if (!isObject(next)) return;
  const p: SchemaObject = isObject(prev) ? prev : {};

  for (const keyword of UNCOMPARABLE_KEYWORDS) {
    if (keyword in next && canonicalJson(p[keyword]) !== canonicalJson(next[keyword])) {
      add(`"${keyword}" changed; a change there cannot be proven compatible`, `${pointer}/${keyword}`);
    }
  }

  // type (integer is a subset of number)
  const prevTypes = typesOf(p.type);
  const nextTypes = typesOf(next.type);
  if (nextTypes) {
    if (!prevTypes) add(`type restricted to ${[...nextTypes].join(' | ')}`, `${pointer}/type`);
    else {
      const lost = [...prevTypes].filter((t) => !nextTypes.has(t) && !(t === 'integer' && nextTypes.has('number')));
      if (lost.length > 0) add(`type ${lost.join(' | ')} no longer accepted (now ${[...nextTypes].join(' | ')})`, `${pointer}/type`);
    }
  }

  // enum / const
  const prevValues = allowedValues(p);
  const nextValues = allowedValues(next);
  if (nextValues) {
    if (!prevValues) add(`values restricted to ${nextValues.map((v) => JSON.stringify(v)).join(', ')}`, `${pointer}/${'const' in next ? 'const' : 'enum'}`);
    else {
      const kept = new Set(nextValues.map((v) => canonicalJson(v)));
      const removed = prevValues.filter((v) => !kept.has(canonicalJson(v)));
      if (removed.length > 0) add(`values ${removed.map((v) => JSON.stringify(v)).join(', ')} no longer accepted`, `${pointer}/${'const' in next ? 'const' : 'enum'}`);
    }
  }

  // bounds
  for (const keyword of LOWER_BOUNDS) {
    const n = next[keyword];
    if (typeof n !== 'number') continue;
    const before = typeof p[keyword] === 'number' ? (p[keyword] as number) : undefined;
    const inclusiveBefore = keyword === 'exclusiveMinimum' && typeof p.minimum === 'number' ? (p.minimum as number) : undefined;
    if (before === undefined ? inclusiveBefore === undefined || n >= inclusiveBefore : n > before) {
      add(`${keyword} tightened to ${n}${before === undefined ? '' : ` (was ${before})`}`, `${pointer}/${keyword}`);
    }
  }
  for (const keyword of UPPER_BOUNDS) {
    const n = next[keyword];
    if (typeof n !== 'number') continue;
    const before = typeof p[keyword] === 'number' ? (p[keyword] as number) : undefined;
    const inclusiveBefore = keyword === 'exclusiveMaximum' && typeof p.maximum === 'number' ? (p.maximum as number) : undefined;
    if (before === undefined ? inclusiveBefore === undefined || n <= inclusiveBefore : n < before) {
      add(`${keyword} tightened to ${n}${before === undefined ? '' : ` (was ${before})`}`, `${pointer}/${keyword}`);
    }
  }
  for (const keyword of ['multipleOf', 'pattern', 'format'] as const) {
    if (keyword in next && canonicalJson(p[keyword]) !== canonicalJson(next[keyword])) {
      add(`${keyword} ${keyword in p ? 'changed' : 'added'}: ${JSON.stringify(next[keyword])}`, `${pointer}/${keyword}`);
    }
  }
  if (next.uniqueItems === true && p.uniqueItems !== true) add('items must now be unique', `${pointer}/uniqueItems`);

  // objects
  const prevRequired = new Set(Array.isArray(p.required) ? (p.required as string[]) : []);
  const nextRequired = Array.isArray(next.required) ? (next.required as string[]) : [];
  for (const name of nextRequired) {
    if (!prevRequired.has(name)) {
      changes.push({ pointer: `${pointer}/required`, field: `${field}.${name}`, message: 'is now required' });
    }
  }
  const prevProps = isObject(p.properties) ? p.properties : {};
  const nextProps = isObject(next.properties) ? next.properties : {};
  const prevAdditional = p.additionalProperties ?? true;
  const nextAdditional = next.additionalProperties ?? true;
  for (const [name, schema] of Object.entries(nextProps)) {
    const at = `${pointer}/properties/${escape(name)}`;
    if (name in prevProps) compareSchemas(prevProps[name], schema, at, `${field}.${name}`, changes, warnings);
    else if (prevAdditional !== true) {
      // Before, the property was governed by additionalProperties (false or a schema).
      compareSchemas(prevAdditional, schema, at, `${field}.${name}`, changes, warnings);
    } else if (!acceptsAnything(schema)) {
      warnings.push(`${field}.${name}: new property with constraints; a caller who already sent "${name}" with another shape would be refused`);
    }
  }
  for (const name of Object.keys(prevProps)) {
    if (name in nextProps) continue;
    if (nextAdditional === false) changes.push({ pointer: `${pointer}/properties`, field: `${field}.${name}`, message: 'was removed and extra properties are not allowed' });
    else if (nextAdditional !== true) compareSchemas(prevProps[name], nextAdditional, `${pointer}/additionalProperties`, `${field}.${name}`, changes, warnings);
  }
  if (canonicalJson(prevAdditional) !== canonicalJson(nextAdditional)) {
    if (nextAdditional === false) add('additional properties are no longer accepted', `${pointer}/additionalProperties`);
    else if (nextAdditional !== true) compareSchemas(prevAdditional, nextAdditional, `${pointer}/additionalProperties`, `${field}.*`, changes, warnings);
  }

  // arrays
  if ('items' in next) compareSchemas(p.items ?? true, next.items, `${pointer}/items`, `${field}[]`, changes, warnings);
  if (Array.isArray(next.prefixItems)) {
    const before = Array.isArray(p.prefixItems) ? (p.prefixItems as unknown[]) : [];
    next.prefixItems.forEach((schema, i) => compareSchemas(before[i] ?? p.items ?? true, schema, `${pointer}/prefixItems/${i}`, `${field}[${i}]`, changes, warnings));
  }
}

function typesOf(type: unknown): Set<string> | undefined {
  if (typeof type === 'string') return new Set([type]);
  if (Array.isArray(type)) return new Set(type.filter((t): t is string => typeof t === 'string'));
  return undefined;
}

function allowedValues(schema: SchemaObject): unknown[] | undefined {
  if ('const' in schema) return [schema.const];
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  return undefined;
}

function acceptsAnything(schema: unknown): boolean {
  return schema === true || (isObject(schema) && Object.keys(schema).every((k) => ANNOTATIONS.has(k)));
}

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly', '$comment']);

function isObject(value: unknown): value is SchemaObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function escape(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
