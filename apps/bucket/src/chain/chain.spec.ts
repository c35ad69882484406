import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { canonicalJson, CanonicalJson, ChainFault, GENESIS_HASH } from '@pancha/contracts';
import type { BucketChannel } from '@pancha/contracts';
import { computeContentHash, computeEntryHash, sealEntry } from './chain-hash';
import type { ChainEntry, ChainFields } from './chain-hash';
import { ChainVerifier, verifyChain } from './chain-verifier';

type EventInput = Omit<ChainFields, 'seq' | 'created_at'>;

function buildChain(events: EventInput[], start = Date.UTC(2025, 0, 1)): ChainEntry[] {
  const chain: ChainEntry[] = [];
  let prev = GENESIS_HASH;
  events.forEach((event, i) => {
    const created_at = new Date(start + i * 1000).toISOString().replace('Z', '123Z');
    const entry = sealEntry(prev, { ...event, seq: i + 1, created_at });
    chain.push(entry);
    prev = entry.hash;
  });
  return chain;
}

const eventArb: fc.Arbitrary<EventInput> = fc
  .record({
    event_id: fc.uuid(),
    requester_id: fc.constantFrom('bhiv_core', 'workflow_executor', 'prana', 'karma'),
    channel: fc.constantFrom<BucketChannel>('core', 'workflow', 'prana'),
    event_type: fc.string({ minLength: 1, maxLength: 20 }),
    trace_id: fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: null }),
    product: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: null }),
    user_id: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: null }),
    extra: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
  })
  .map(({ extra, ...fields }) => ({
    ...fields,
    event_data: { ...extra, event_id: fields.event_id, event_type: fields.event_type },
  }));

const chainArb = (minLength: number) => fc.array(eventArb, { minLength, maxLength: 25 }).map((events) => buildChain(events));

/** Reverses key order at every depth: what a jsonb round trip may do to stored objects. */
function reorderKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reorderKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).reverse().map((k) => [k, reorderKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}

const MUTABLE_FIELDS: Array<keyof ChainEntry> = [
  'seq', 'event_id', 'requester_id', 'channel', 'event_type', 'trace_id', 'product', 'user_id',
  'event_data', 'created_at', 'content_hash', 'prev_hash', 'hash',
];

/** A value for `field` that differs from the current one in canonical form. */
function mutate(entry: ChainEntry, field: keyof ChainEntry, salt: string): ChainEntry {
  const copy = { ...entry } as Record<string, unknown>;
  const current = copy[field];
  switch (field) {
    case 'seq':
      copy.seq = entry.seq + 1 + (salt.length % 5);
      break;
    case 'channel':
      copy.channel = entry.channel === 'core' ? 'workflow' : 'core';
      break;
    case 'event_data':
      copy.event_data = { ...(entry.event_data as object), tampered: salt };
      break;
    case 'content_hash':
    case 'prev_hash':
    case 'hash':
      copy[field] = (current as string).startsWith('f') ? `e${(current as string).slice(1)}` : `f${(current as string).slice(1)}`;
      break;
    default:
      copy[field] = current === null ? `x${salt}` : `${String(current)}~${salt}`;
  }
  return copy as unknown as ChainEntry;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('gives the same text for the same content in any key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(reorderKeys(value))).toBe(canonicalJson(value));
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('embeds a value canonicalised once as the text it would have been written as, at any depth', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (inner, outer) => {
        const once = CanonicalJson.of(reorderKeys(inner));
        expect(canonicalJson(once)).toBe(canonicalJson(inner));
        expect(canonicalJson({ outer, z: [once], a: once })).toBe(canonicalJson({ outer, z: [inner], a: inner }));
      }),
    );
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
  });
});

describe('entry hash', () => {
  const fields: ChainFields = {
    seq: 1,
    event_id: '6f1c1a52-8b0e-4a36-9d7e-0d5c2b1f3a11',
    requester_id: 'bhiv_core',
    channel: 'core',
    event_type: 'task_received',
    trace_id: null,
    product: null,
    user_id: 'u1',
    event_data: { event_id: '6f1c1a52-8b0e-4a36-9d7e-0d5c2b1f3a11', event_type: 'task_received', user_id: 'u1' },
    created_at: '2025-01-01T00:00:00.000123Z',
  };

  it('is sha256 of prev_hash followed by the canonical JSON of the covered fields', () => {
    const expected = createHash('sha256').update(GENESIS_HASH + canonicalJson(fields)).digest('hex');
    expect(computeEntryHash(GENESIS_HASH, fields)).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('depends on the previous hash', () => {
    expect(computeEntryHash('1'.repeat(64), fields)).not.toBe(computeEntryHash(GENESIS_HASH, fields));
  });

  it('is the same when the appender passes event_data canonicalised once', () => {
    const once = { ...fields, event_data: CanonicalJson.of(reorderKeys(fields.event_data)) };
    expect(computeEntryHash(GENESIS_HASH, once)).toBe(computeEntryHash(GENESIS_HASH, fields));
    expect(sealEntry(GENESIS_HASH, once)).toMatchObject({
      content_hash: computeContentHash(fields.event_data),
      hash: sealEntry(GENESIS_HASH, fields).hash,
    });
  });

  it('does not depend on key order of event_data', () => {
    const reordered = { ...fields, event_data: reorderKeys(fields.event_data) };
    expect(computeEntryHash(GENESIS_HASH, reordered)).toBe(computeEntryHash(GENESIS_HASH, fields));
    expect(computeContentHash(reordered.event_data)).toBe(computeContentHash(fields.event_data));
  });
});

describe('ChainVerifier', () => {
  it('accepts an empty chain with the genesis head', () => {
    expect(verifyChain([])).toEqual({ ok: true, size: 0, head_hash: GENESIS_HASH });
  });

  it('accepts any appended sequence of events, also after a jsonb-like round trip', () => {
    fc.assert(
      fc.property(chainArb(0), (chain) => {
        const expected = { ok: true, size: chain.length, head_hash: chain.at(-1)?.hash ?? GENESIS_HASH };
        expect(verifyChain(chain)).toEqual(expected);
        const reread = chain.map((e) => reorderKeys(JSON.parse(JSON.stringify(e))) as ChainEntry);
        expect(verifyChain(reread)).toEqual(expected);
      }),
    );
  });

  it('finds a change to any field of any entry at that entry', () => {
    fc.assert(
      fc.property(
        chainArb(1).chain((chain) =>
          fc.tuple(fc.constant(chain), fc.nat(chain.length - 1), fc.constantFrom(...MUTABLE_FIELDS), fc.string({ minLength: 1, maxLength: 4 })),
        ),
        ([chain, index, field, salt]) => {
          const tampered = chain.slice();
          tampered[index] = mutate(chain[index], field, salt);
          const result = verifyChain(tampered);
          expect(result.ok).toBe(false);
          expect(result.first_bad_seq).toBe(index + 1);
          expect(result.size).toBe(chain.length);
        },
      ),
    );
  });

  it('finds a deleted entry at the gap', () => {
    fc.assert(
      fc.property(
        chainArb(2).chain((chain) => fc.tuple(fc.constant(chain), fc.nat(chain.length - 2))),
        ([chain, index]) => {
          const tampered = chain.filter((_, i) => i !== index);
          expect(verifyChain(tampered)).toMatchObject({ ok: false, first_bad_seq: index + 1, reason: ChainFault.SeqGap });
        },
      ),
    );
  });

  it('finds two swapped entries, and two entries whose contents were swapped, at the first of them', () => {
    fc.assert(
      fc.property(
        chainArb(2).chain((chain) =>
          fc.tuple(fc.constant(chain), fc.uniqueArray(fc.nat(chain.length - 1), { minLength: 2, maxLength: 2 })),
        ),
        ([chain, pair]) => {
          const [i, j] = pair.sort((a, b) => a - b);
          const moved = chain.slice();
          [moved[i], moved[j]] = [moved[j], moved[i]];
          expect(verifyChain(moved)).toMatchObject({ ok: false, first_bad_seq: i + 1 });

          const contentSwapped = chain.slice();
          contentSwapped[i] = { ...chain[j], seq: chain[i].seq };
          contentSwapped[j] = { ...chain[i], seq: chain[j].seq };
          expect(verifyChain(contentSwapped)).toMatchObject({ ok: false, first_bad_seq: i + 1 });
        },
      ),
    );
  });

  it('does not notice the newest entries removed: that is what signed checkpoints are for', () => {
    const chain = buildChain([0, 1, 2].map((n) => ({
      event_id: `00000000-0000-4000-8000-00000000000${n}`,
      requester_id: 'bhiv_core',
      channel: 'core' as const,
      event_type: 't',
      trace_id: null,
      product: null,
      user_id: null,
      event_data: { n },
    })));
    expect(verifyChain(chain.slice(0, 2))).toEqual({ ok: true, size: 2, head_hash: chain[1].hash });
  });

  it('keeps counting after the first fault so size and head describe the whole table', () => {
    const chain = buildChain([0, 1, 2, 3].map((n) => ({
      event_id: `00000000-0000-4000-8000-00000000000${n}`,
      requester_id: 'bhiv_core',
      channel: 'core' as const,
      event_type: 't',
      trace_id: null,
      product: null,
      user_id: null,
      event_data: { n },
    })));
    const verifier = new ChainVerifier();
    chain.forEach((e, i) => verifier.push(i === 1 ? { ...e, event_data: { n: 99 } } : e));
    expect(verifier.result()).toEqual({
      ok: false,
      size: 4,
      head_hash: chain[3].hash,
      first_bad_seq: 2,
      reason: ChainFault.ContentHashMismatch,
    });
  });
});
