/**
 * A form generated from a workflow's inputs JSON Schema (an object schema): one labelled field per property,
 * typed by the schema (string / email / number / integer / boolean / enum / array of strings), anything else
 * as JSON. Values are converted back to the schema's types before submit; the server validates again.
 */
import { useState, type FormEvent } from 'react';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  description?: string;
  title?: string;
  default?: unknown;
  items?: JsonSchema;
}

type Kind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'string-array' | 'json';

export function fieldKind(s: JsonSchema): Kind {
  if (Array.isArray(s.enum)) return 'enum';
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (t === 'string') return 'string';
  if (t === 'number') return 'number';
  if (t === 'integer') return 'integer';
  if (t === 'boolean') return 'boolean';
  if (t === 'array' && (s.items?.type === 'string' || !s.items)) return 'string-array';
  return 'json';
}

/** Turns the raw field texts into typed inputs; errors name the field. */
export function toInputs(schema: JsonSchema, raw: Record<string, string | boolean>): { inputs: Record<string, unknown>; errors: Record<string, string> } {
  const inputs: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const required = new Set(schema.required ?? []);
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const v = raw[name];
    const kind = fieldKind(prop);
    if (kind === 'boolean') {
      if (v !== undefined) inputs[name] = v === true;
      continue;
    }
    const text = typeof v === 'string' ? v : '';
    if (text.trim() === '') {
      if (required.has(name)) errors[name] = `${name} is required`;
      continue;
    }
    if (kind === 'number' || kind === 'integer') {
      const n = Number(text);
      if (!Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n))) errors[name] = `${name} must be ${kind === 'integer' ? 'an integer' : 'a number'}`;
      else inputs[name] = n;
    } else if (kind === 'enum') {
      const opt = (prop.enum ?? []).find((o) => String(o) === text);
      inputs[name] = opt ?? text;
    } else if (kind === 'string-array') {
      inputs[name] = text.split(',').map((x) => x.trim()).filter(Boolean);
    } else if (kind === 'json') {
      try {
        inputs[name] = JSON.parse(text);
      } catch {
        errors[name] = `${name} must be JSON`;
      }
    } else inputs[name] = text;
  }
  return { inputs, errors };
}

export function SchemaForm({ schema, onSubmit, submitLabel, busy, idPrefix = 'in' }: { schema: JsonSchema; onSubmit: (inputs: Record<string, unknown>) => void; submitLabel: string; busy?: boolean; idPrefix?: string }) {
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const [raw, setRaw] = useState<Record<string, string | boolean>>(() =>
    Object.fromEntries(props.filter(([, p]) => p.default !== undefined).map(([n, p]) => [n, typeof p.default === 'boolean' ? p.default : typeof p.default === 'string' ? p.default : JSON.stringify(p.default)])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const r = toInputs(schema, raw);
    setErrors(r.errors);
    if (Object.keys(r.errors).length === 0) onSubmit(r.inputs);
  };
  const set = (name: string, v: string | boolean) => setRaw((s) => ({ ...s, [name]: v }));
  return (
    <form onSubmit={submit} noValidate className="schema-form">
      {props.length === 0 && <p className="muted">This workflow takes no inputs.</p>}
      {props.map(([name, p]) => {
        const id = `${idPrefix}-${name}`;
        const kind = fieldKind(p);
        const err = errors[name];
        const describedBy = [p.description ? `${id}-desc` : '', err ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
        const common = { id, name, 'aria-invalid': !!err, 'aria-describedby': describedBy, required: required.has(name) };
        return (
          <div className="field" key={name}>
            <label htmlFor={id}>
              {p.title ?? name}
              {required.has(name) && <span aria-hidden="true"> *</span>}
              {kind === 'string-array' && <span className="muted"> (comma-separated)</span>}
              {kind === 'json' && <span className="muted"> (JSON)</span>}
            </label>
            {kind === 'boolean' ? (
              <input type="checkbox" {...common} checked={raw[name] === true} onChange={(e) => set(name, e.target.checked)} />
            ) : kind === 'enum' ? (
              <select {...common} value={String(raw[name] ?? '')} onChange={(e) => set(name, e.target.value)}>
                <option value="">—</option>
                {(p.enum ?? []).map((o) => (
                  <option key={String(o)} value={String(o)}>
                    {String(o)}
                  </option>
                ))}
              </select>
            ) : kind === 'json' ? (
              <textarea {...common} rows={3} value={String(raw[name] ?? '')} onChange={(e) => set(name, e.target.value)} />
            ) : (
              <input
                {...common}
                type={kind === 'number' || kind === 'integer' ? 'number' : p.format === 'email' ? 'email' : 'text'}
                step={kind === 'integer' ? 1 : undefined}
                pattern={p.pattern}
                minLength={p.minLength}
                maxLength={p.maxLength}
                value={String(raw[name] ?? '')}
                onChange={(e) => set(name, e.target.value)}
              />
            )}
            {p.description && (
              <small id={`${id}-desc`} className="muted">
                {p.description}
              </small>
            )}
            {err && (
              <small id={`${id}-err`} className="field-error" role="alert">
                {err}
              </small>
            )}
          </div>
        );
      })}
      <button type="submit" disabled={busy}>
        {busy ? 'Starting…' : submitLabel}
      </button>
    </form>
  );
}
