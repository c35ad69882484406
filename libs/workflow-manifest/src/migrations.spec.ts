import { checkManifest } from './check-manifest';
import { parseManifest } from './parse-manifest';
import { MigrationError, migrateInputs } from './migrations';
import { BUILTIN_ACTIONS } from './validate-manifest';

const v3 = parseManifest(
  [
    'name: onboard',
    'version: 3.1.0',
    'security: { actions: [task] }',
    'steps: [{ id: a, action: task }]',
    'migrations:',
    '  1.x: { user_id: "{{ inputs.uid }}", email: "{{ inputs.mail.lower() }}", phone: "{{ inputs.?tel.orValue(null) }}" }',
    '  2.x: { user_id: "{{ inputs.user }}", email: "{{ inputs.email }}", tags: "{{ inputs.tags }}" }',
    '',
  ].join('\n'),
).manifest;
if (!v3) throw new Error('fixture does not parse');

describe('migrateInputs', () => {
  it('applies the template of the caller’s major', () => {
    expect(migrateInputs(v3, '1.4.2', { uid: 'u1', mail: 'A@Example.com', tel: '+44' })).toEqual({ user_id: 'u1', email: 'a@example.com', phone: '+44' });
    expect(migrateInputs(v3, '2.0.0', { user: 'u2', email: 'b@example.com', tags: ['x'] })).toEqual({ user_id: 'u2', email: 'b@example.com', tags: ['x'] });
  });

  it('keeps a migrated member named __proto__ as data, never as the prototype', () => {
    const m = parseManifest(
      ['name: onboard', 'version: 2.0.0', 'security: { actions: [task] }', 'steps: [{ id: a, action: task }]', 'migrations:', '  1.x: { "__proto__": "{{ inputs.p }}", keep: "{{ inputs.k }}" }', ''].join('\n'),
    ).manifest;
    if (!m) throw new Error('fixture does not parse');
    const out = migrateInputs(m, '1.0.0', JSON.parse('{"p":{"polluted":true},"k":1}'));
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true},"keep":1}');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('leaves out a key that renders to null', () => {
    expect(migrateInputs(v3, '1.0.0', { uid: 'u1', mail: 'a@example.com' })).toEqual({ user_id: 'u1', email: 'a@example.com' });
  });

  it('returns inputs of the same major unchanged', () => {
    const inputs = { user_id: 'u3', email: 'c@example.com' };
    expect(migrateInputs(v3, '3.0.0', inputs)).toBe(inputs);
  });

  it('refuses with a clear message what it cannot do', () => {
    expect(() => migrateInputs(v3, '0.9.0', {})).toThrow(new MigrationError('onboard@3.1.0 has no migration from 0.x (it has 1.x, 2.x): callers of 0.9.0 must send 3.x inputs'));
    expect(() => migrateInputs(v3, '4.0.0', {})).toThrow(/cannot be moved back/);
    expect(() => migrateInputs(v3, 'one', {})).toThrow(/is not a version/);
    expect(() => migrateInputs(v3, '1.0.0', { mail: 'x' })).toThrow(/migration of onboard from 1.x failed: user_id: no such key: uid in inputs.uid/);
  });
});

describe('checkManifest', () => {
  const actions = new Map(BUILTIN_ACTIONS.map((a) => [a, {}]));

  it('runs the syntax layer, then the others', () => {
    const result = checkManifest('name: demo\nversion: 1.0.0\nsteps:\n  - id: a\n    action: email\n', { actions }, { file: 'demo.yaml' });
    expect(result.manifest).toBeDefined();
    expect(result.findings.map((f) => [f.layer, f.code, f.line])).toEqual([['security', 'action_not_allowed', 5]]);
  });

  it('stops after the syntax layer when the document does not parse', () => {
    const result = checkManifest('name: demo\nsteps: [\n', { actions });
    expect(result.manifest).toBeUndefined();
    expect(result.findings.every((f) => f.layer === 'syntax')).toBe(true);
  });
});
