import { findUnstorableJson, toStorableJson } from './storable-json';

describe('findUnstorableJson', () => {
  it('accepts ordinary JSON', () => {
    expect(findUnstorableJson({ a: ['x', 1, { b: 'é😀' }], c: null }, 32)).toEqual([]);
  });

  it('names strings and keys PostgreSQL cannot store', () => {
    const body = JSON.parse('{"event_data":{"note":"a\\u0000b","list":["ok","\\ud800"],"k\\u0000":1}}');
    expect(findUnstorableJson(body, 32).map((e) => e.field).sort()).toEqual(['event_data.k\u0000', 'event_data.list.1', 'event_data.note']);
  });

  it('names an item of a body that is an array as the routes do ([1].data.s), nested arrays by dots', () => {
    const body = JSON.parse('[{"data":{"s":"ok"}},{"data":{"s":"a\\u0000b","l":["\\ud800"]}}]');
    expect(findUnstorableJson(body, 32).map((e) => e.field).sort()).toEqual(['[1].data.l.0', '[1].data.s']);
  });

  it('stops at the depth limit without recursing (100k levels)', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`);
    const errors = findUnstorableJson(deep, 32);
    expect(errors).toHaveLength(1);
    expect(errors[0].field.split('.')).toHaveLength(32);
  });

  it('allows exactly the depth limit', () => {
    const atLimit = JSON.parse(`${'['.repeat(32)}${']'.repeat(32)}`);
    expect(findUnstorableJson(atLimit, 32)).toEqual([]);
    expect(findUnstorableJson([atLimit], 32)).toHaveLength(1);
  });

  it('refuses numbers JSON.parse made infinite', () => {
    expect(findUnstorableJson(JSON.parse('{"a":{"n":1e400},"b":[-1e400]}'), 32)).toEqual([
      { field: 'a.n', messages: ['must be a finite number'] },
      { field: 'b.0', messages: ['must be a finite number'] },
    ]);
  });
});

describe('toStorableJson', () => {
  it('replaces U+0000 and unpaired surrogates with U+FFFD in strings and keys, keeps pairs, and leaves non-plain objects alone', () => {
    const at = new Date('2026-11-30T00:00:00Z');
    const value = { note: 'a\u0000b\ud800', ok: 'é😀', list: ['\udc00x', 1, null], ['k\ud800']: true, at };
    const out = toStorableJson(value);
    expect(out).toEqual({ note: 'a\ufffdb\ufffd', ok: 'é😀', list: ['\ufffdx', 1, null], ['k\ufffd']: true, at });
    expect(out.at).toBe(at);
    expect(findUnstorableJson(JSON.parse(JSON.stringify(out)), 32)).toEqual([]);
  });
});
