import Ajv2020 from 'ajv/dist/2020';
import fc from 'fast-check';
import { compileJsonSchema, inputsCompatibility, jsonSchemaProblem, JsonSchemaError } from './json-schema';
import type { JsonSchema } from './manifest.types';

const onboardInputs: JsonSchema = {
  type: 'object',
  required: ['user_id', 'email'],
  properties: {
    user_id: { type: 'string' },
    email: { type: 'string', format: 'email' },
    items: { type: 'array', items: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } },
  },
  additionalProperties: false,
};

describe('compileJsonSchema', () => {
  const validate = compileJsonSchema(onboardInputs);

  it('accepts valid inputs', () => {
    expect(validate({ user_id: 'u1', email: 'a@example.com' })).toEqual([]);
  });

  it('names every bad field by its dotted path', () => {
    const errors = validate({ email: 'not-an-email', items: [{ id: 'a' }, { id: 'b' }, { id: 3 }, {}], extra: 1 });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'inputs.user_id', messages: ['is required'] },
        { field: 'inputs.email', messages: ['must match format "email"'] },
        { field: 'inputs.items.2.id', messages: ['must be string'] },
        { field: 'inputs.items.3.id', messages: ['is required'] },
        { field: 'inputs.extra', messages: ['is not allowed'] },
      ]),
    );
    expect(errors).toHaveLength(5);
  });

  it('uses the root name given and lists enum values', () => {
    const v = compileJsonSchema({ type: 'object', properties: { plan: { enum: ['free', 'pro'] } } }, { rootName: 'output' });
    expect(v({ plan: 'gold' })).toEqual([{ field: 'output.plan', messages: ['must be one of "free", "pro"'] }]);
    expect(compileJsonSchema({ type: 'object' })('x')).toEqual([{ field: 'inputs', messages: ['must be object'] }]);
  });

  it('refuses an invalid schema', () => {
    expect(() => compileJsonSchema({ type: 'strng' })).toThrow(JsonSchemaError);
    expect(jsonSchemaProblem({ type: 'strng' })).toMatch(/invalid JSON Schema/);
    expect(jsonSchemaProblem('object')).toMatch(/must be an object or a boolean/);
    expect(jsonSchemaProblem(onboardInputs)).toBeNull();
  });

  it('compiles two schemas with the same $id independently', () => {
    const a = compileJsonSchema({ $id: 'https://x/s', type: 'string' });
    const b = compileJsonSchema({ $id: 'https://x/s', type: 'number' });
    expect(a(1)).not.toEqual([]);
    expect(b(1)).toEqual([]);
  });
});

describe('inputsCompatibility', () => {
  const base = {
    type: 'object',
    required: ['user_id'],
    properties: {
      user_id: { type: 'string' },
      plan: { enum: ['free', 'pro', 'team'] },
      age: { type: 'integer', minimum: 0, maximum: 150 },
      note: { type: 'string', maxLength: 100 },
    },
  };
  const change = (patch: (s: typeof base & Record<string, unknown>) => void) => {
    const next = structuredClone(base) as typeof base & Record<string, unknown>;
    patch(next);
    return inputsCompatibility(base, next);
  };

  it('finds no break in an identical or loosened schema', () => {
    expect(inputsCompatibility(base, structuredClone(base)).breaking).toBe(false);
    expect(change((s) => (s.required = [])).breaking).toBe(false);
    expect(change((s) => (s.properties.age.maximum = 200)).breaking).toBe(false);
    expect(change((s) => s.properties.plan.enum.push('enterprise')).breaking).toBe(false);
    expect(change((s) => ((s.properties.user_id as Record<string, unknown>).type = ['string', 'null'])).breaking).toBe(false);
    expect(change((s) => ((s.properties.age as Record<string, unknown>).type = 'number')).breaking).toBe(false);
  });

  it.each<[string, (s: typeof base & Record<string, unknown>) => void, string]>([
    ['a newly required property', (s) => s.required.push('plan'), 'inputs.plan: is now required'],
    ['a changed type', (s) => ((s.properties.user_id as Record<string, unknown>).type = 'integer'), 'inputs.user_id: type string no longer accepted (now integer)'],
    ['a narrowed type', (s) => ((s.properties.age as Record<string, unknown>).type = 'string'), 'inputs.age: type integer no longer accepted'],
    ['a removed enum value', (s) => (s.properties.plan.enum = ['free', 'pro']), 'inputs.plan: values "team" no longer accepted'],
    ['a raised minimum', (s) => (s.properties.age.minimum = 18), 'inputs.age: minimum tightened to 18 (was 0)'],
    ['a lowered maxLength', (s) => (s.properties.note.maxLength = 50), 'inputs.note: maxLength tightened to 50 (was 100)'],
    ['additionalProperties turned false', (s) => (s.additionalProperties = false), 'inputs: additional properties are no longer accepted'],
    ['a pattern added', (s) => ((s.properties.user_id as Record<string, unknown>).pattern = '^u'), 'inputs.user_id: pattern added'],
  ])('reports %s', (_what, patch, reason) => {
    const result = change(patch);
    expect(result.breaking).toBe(true);
    expect(result.reasons.some((r) => r.startsWith(reason))).toBe(true);
  });

  it('reports a property removed when extra properties are not allowed', () => {
    const prev = { ...base, additionalProperties: false };
    const next = structuredClone(prev) as Record<string, unknown> & { properties: Record<string, unknown> };
    delete next.properties.note;
    const result = inputsCompatibility(prev, next);
    expect(result.reasons).toEqual(['inputs.note: was removed and extra properties are not allowed']);
    expect(result.changes[0].pointer).toBe('/properties');
  });

  it('points at the change in the new schema', () => {
    const result = change((s) => (s.properties.age.minimum = 18));
    expect(result.changes).toEqual([{ pointer: '/properties/age/minimum', field: 'inputs.age', message: 'minimum tightened to 18 (was 0)' }]);
  });

  it('warns, without calling it breaking, about a new constrained property on an open object', () => {
    const result = change((s) => ((s.properties as Record<string, unknown>).phone = { type: 'string' }));
    expect(result.breaking).toBe(false);
    expect(result.warnings).toEqual([expect.stringMatching(/^inputs\.phone: new property/)]);
  });

  it('calls a change it cannot compare breaking, and says why', () => {
    const result = change((s) => (s.anyOf = [{ required: ['plan'] }, { required: ['age'] }]));
    expect(result.breaking).toBe(true);
    expect(result.reasons[0]).toMatch(/"anyOf" changed; a change there cannot be proven compatible/);
  });

  describe('property: when it says not breaking, the new schema accepts everything the old one did', () => {
    const keys = ['a', 'b', 'c', 'd'] as const;
    const fieldSchema = fc.oneof(
      fc.record({ type: fc.constant('string'), minLength: fc.option(fc.nat(3), { nil: undefined }), maxLength: fc.option(fc.integer({ min: 2, max: 6 }), { nil: undefined }) }),
      fc.record({ type: fc.constant('integer'), minimum: fc.option(fc.integer({ min: -3, max: 3 }), { nil: undefined }), maximum: fc.option(fc.integer({ min: 2, max: 9 }), { nil: undefined }) }),
      fc.record({ type: fc.constantFrom('number', 'boolean', 'null') }),
      fc.record({ type: fc.constant(['string', 'null']) }),
      fc.record({ enum: fc.uniqueArray(fc.constantFrom('x', 'y', 'z', 1, 2), { minLength: 1, maxLength: 4 }) }),
      fc.constant({}),
    );
    const objectSchema = fc.record({
      type: fc.constant('object'),
      properties: fc.dictionary(fc.constantFrom(...keys), fieldSchema, { minKeys: 2, maxKeys: 4 }),
      required: fc.subarray([...keys]),
      additionalProperties: fc.option(fc.constant(false), { nil: undefined, freq: 2 }),
    });
    const strip = <T extends Record<string, unknown>>(o: T): T => JSON.parse(JSON.stringify(o)) as T;
    // Edits mostly aimed at the properties the old schema has, so each kind of change is tried often.
    const mutationFor = (declared: string[]) => {
      const key = declared.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...declared), weight: 4 }, { arbitrary: fc.constantFrom(...keys), weight: 1 }) : fc.constantFrom(...keys);
      return fc.oneof(
        fc.record({ kind: fc.constant('require'), key }),
        fc.record({ kind: fc.constant('unrequire'), key }),
        fc.record({ kind: fc.constant('retype'), key, schema: fieldSchema }),
        fc.record({ kind: fc.constant('drop'), key }),
        fc.record({ kind: fc.constant('closed'), value: fc.boolean() }),
        { arbitrary: fc.record({ kind: fc.constantFrom('tighten', 'loosen'), key, by: fc.integer({ min: 1, max: 3 }) }), weight: 3 },
      );
    };
    const apply = (schema: Record<string, unknown>, mutations: { kind: string; key?: string; schema?: unknown; value?: boolean; by?: number }[]) => {
      const next = structuredClone(schema) as { properties: Record<string, Record<string, unknown>>; required: string[]; additionalProperties?: boolean };
      for (const m of mutations) {
        const prop = m.key ? next.properties[m.key] : undefined;
        if ((m.kind === 'tighten' || m.kind === 'loosen') && prop && m.by) {
          const sign = m.kind === 'tighten' ? 1 : -1;
          for (const k of ['minimum', 'minLength']) if (typeof prop[k] === 'number') prop[k] = Math.max(0, (prop[k] as number) + sign * m.by);
          for (const k of ['maximum', 'maxLength']) if (typeof prop[k] === 'number') prop[k] = Math.max(0, (prop[k] as number) - sign * m.by);
          if (Array.isArray(prop.enum)) prop.enum = sign > 0 ? (prop.enum.length > 1 ? prop.enum.slice(1) : prop.enum) : [...prop.enum, 'w'];
        }
        if (m.kind === 'require' && m.key && !next.required.includes(m.key)) next.required.push(m.key);
        if (m.kind === 'unrequire') next.required = next.required.filter((k) => k !== m.key);
        if (m.kind === 'retype' && m.key) next.properties[m.key] = m.schema as Record<string, unknown>;
        if (m.kind === 'drop' && m.key) delete next.properties[m.key];
        if (m.kind === 'closed') {
          if (m.value) next.additionalProperties = false;
          else delete next.additionalProperties;
        }
      }
      return next;
    };
    // Values built from the old schema, so most of them are valid for it (random objects almost never are).
    const anyValue = fc.oneof(fc.string({ maxLength: 7 }), fc.integer({ min: -5, max: 12 }), fc.double({ min: -5, max: 12, noNaN: true }), fc.boolean(), fc.constant(null));
    const valueFor = (schema: Record<string, unknown>): fc.Arbitrary<unknown> => {
      if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
      const n = (k: string, d: number) => (typeof schema[k] === 'number' ? (schema[k] as number) : d);
      const str = fc.string({ minLength: n('minLength', 0), maxLength: Math.max(n('minLength', 0), n('maxLength', 7)) });
      const int = fc.integer({ min: n('minimum', -5), max: Math.max(n('minimum', -5), n('maximum', 12)) });
      switch (JSON.stringify(schema.type)) {
        case '"string"':
          return str;
        case '"integer"':
          return int;
        case '"number"':
          return fc.oneof(int, fc.double({ min: -5, max: 12, noNaN: true }));
        case '"boolean"':
          return fc.boolean();
        case '"null"':
          return fc.constant(null);
        case '["string","null"]':
          return fc.oneof(str, fc.constant(null));
        default:
          return anyValue;
      }
    };
    const valuesFor = (schema: { properties: Record<string, Record<string, unknown>>; required: string[] }) =>
      fc.array(
        fc.tuple(
          fc.tuple(...keys.map((k) => fc.tuple(fc.boolean(), k in schema.properties ? valueFor(schema.properties[k]) : anyValue))),
          fc.option(anyValue, { nil: undefined }),
        ).map(([fields, extra]) => {
          const out: Record<string, unknown> = {};
          keys.forEach((k, i) => {
            if (schema.required.includes(k) || fields[i][0]) out[k] = fields[i][1];
          });
          if (extra !== undefined) out.e = extra;
          return out;
        }),
        { minLength: 10, maxLength: 10 },
      );
    const ajv = new Ajv2020({ strict: false });

    it('holds for random schemas, edits and values', () => {
      let checked = 0;
      fc.assert(
        fc.property(
          objectSchema
            .map(strip)
            .chain((prev) => fc.tuple(fc.constant(prev), valuesFor(prev as never), fc.array(mutationFor(Object.keys(prev.properties)), { minLength: 1, maxLength: 3 }))),
          ([prev, values, mutations]) => {
            const next = apply(prev, mutations);
            const result = inputsCompatibility(prev, next);
            if (result.breaking || result.warnings.length > 0) return true;
            const before = ajv.compile(prev);
            const after = ajv.compile(next);
            for (const v of values) {
              if (before(v)) {
                checked += 1;
                if (!after(v)) return false;
              }
            }
            return true;
          },
        ),
        { numRuns: 300 },
      );
      // The property is only worth something if valid values were actually tried against non-breaking edits.
      expect(checked).toBeGreaterThan(150);
    });
  });
});
