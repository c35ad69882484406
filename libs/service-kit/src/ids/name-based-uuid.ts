import { createHash } from 'node:crypto';

/**
 * An RFC 4122 version 5 (name-based, SHA-1) uuid of `name` in `namespace` (a uuid): the same name always gives the
 * same id, so a retry of a request can be recognised by the id its content derives (Bucket's derived event ids, the
 * executor's signal ids under an Idempotency-Key).
 */
export function nameBasedUuid(namespace: string, name: string): string {
  const bytes = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
