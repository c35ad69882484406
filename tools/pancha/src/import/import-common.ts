import { BUILTIN_ACTIONS } from '@pancha/workflow-manifest';

/** One manifest made from a foreign definition, with what could not be carried over (one sentence each). */
export interface ImportedWorkflow {
  name: string;
  manifest: Record<string, unknown>;
  notes: string[];
}

export function slugName(value: unknown, fallback: string): string {
  const s = String(value ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100);
  return s || fallback;
}

export function stepId(value: unknown, index: number, taken: Set<string>): string {
  let id = String(value ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^[^a-z]+|_+$/g, '')
    .slice(0, 60);
  if (!id) id = `step_${index + 1}`;
  let unique = id;
  for (let n = 2; taken.has(unique); n++) unique = `${id}_${n}`;
  taken.add(unique);
  return unique;
}

/** `1`, `1.2`, `v1.2.3` → semver x.y.z. */
export function semverOf(value: unknown, notes: string[]): string {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?$/.exec(String(value ?? '').trim());
  if (!m) {
    notes.push(`version "${String(value ?? '')}" is not semver: set to 1.0.0`);
    return '1.0.0';
  }
  return `${m[1]}.${m[2] ?? 0}.${m[3] ?? 0}${m[4] ?? ''}`;
}

/** A number of seconds or a duration string → a Pancha duration (`30s`, `5m`). */
export function durationOf(value: unknown, unit: 'ms' | 's' = 's'): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) {
    const ms = unit === 's' ? value * 1000 : value;
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
  }
  if (typeof value === 'string' && /^\d+(ms|s|m|h|d)$/.test(value.trim())) return value.trim();
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return durationOf(Number(value), unit);
  return undefined;
}

export function isBuiltinAction(name: string): boolean {
  return (BUILTIN_ACTIONS as readonly string[]).includes(name);
}

/**
 * Foreign parameter lists to a JSON Schema: a schema is kept; `{ field: { type, required, description } }` or
 * `[{ name, type, required }]` become `properties` and `required`.
 */
export function schemaOf(value: unknown, what: string, notes: string[]): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object' && !Array.isArray(value) && ('properties' in value || (value as { type?: unknown }).type === 'object')) return value as Record<string, unknown>;
  const entries: [string, Record<string, unknown>][] = Array.isArray(value)
    ? value.flatMap((v) => (v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string' ? [[(v as { name: string }).name, v as Record<string, unknown>] as [string, Record<string, unknown>]] : []))
    : typeof value === 'object'
      ? Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, v && typeof v === 'object' ? (v as Record<string, unknown>) : { type: v }] as [string, Record<string, unknown>])
      : [];
  if (entries.length === 0) {
    notes.push(`${what}: not a schema or a parameter list; left out`);
    return undefined;
  }
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [key, spec] of entries) {
    const prop: Record<string, unknown> = {};
    const type = typeof spec.type === 'string' ? spec.type.toLowerCase() : undefined;
    const known = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];
    if (type && known.includes(type)) prop.type = type;
    else if (type) notes.push(`${what}.${key}: type "${type}" has no JSON Schema equivalent; left untyped`);
    if (typeof spec.description === 'string') prop.description = spec.description;
    if (spec.default !== undefined) prop.default = spec.default;
    if (Array.isArray(spec.enum)) prop.enum = spec.enum;
    properties[key] = prop;
    if (spec.required === true) required.push(key);
  }
  return { type: 'object', ...(required.length > 0 ? { required } : {}), properties };
}
