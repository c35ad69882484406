/**
 * Canonical JSON: object keys sorted by UTF-16 code unit at every depth, no whitespace, `undefined`
 * members dropped, everything else as JSON.stringify writes it. Bucket hashes and signs these bytes,
 * so a verifier in any language gets the same digest from the same data whatever key order it stored.
 * Throws on values JSON cannot represent (functions, symbols, bigint, non-finite numbers, cycles).
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

/**
 * A value's canonical JSON, written once and embedded as is wherever the value appears in a larger document
 * (Bucket hashes an entry's event_data alone and inside the entry; canonicalising it once serves both).
 */
export class CanonicalJson {
  private constructor(readonly text: string) {}

  static of(value: unknown): CanonicalJson {
    return new CanonicalJson(canonicalJson(value));
  }
}

function write(value: unknown, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not representable in JSON`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not representable in JSON`);
  }
  const obj = value as object;
  if (obj instanceof CanonicalJson) return obj.text;
  if (ancestors.has(obj)) throw new TypeError('canonicalJson: cyclic structure');
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    return write((obj as { toJSON(): unknown }).toJSON(), ancestors);
  }
  ancestors.add(obj);
  try {
    if (Array.isArray(obj)) {
      // JSON.stringify writes holes and undefined items of arrays as null.
      return `[${obj.map((item) => (item === undefined ? 'null' : write(item, ancestors))).join(',')}]`;
    }
    const record = obj as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${write(record[key], ancestors)}`);
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(obj);
  }
}
