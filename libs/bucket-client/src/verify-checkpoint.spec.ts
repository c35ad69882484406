import { canonicalJson } from '@pancha/contracts';
import type { SignedCheckpoint } from '@pancha/contracts';
import { generateKeyPairSync, sign } from 'node:crypto';
import { verifyCheckpoint } from './verify-checkpoint';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

function signed(privateKey: ReturnType<typeof keyPair>['privateKey']): SignedCheckpoint {
  const payload = { size: 42, head_hash: 'ab'.repeat(32), timestamp: '2025-01-01T00:00:00.000001Z' };
  const signature = sign(null, Buffer.from(canonicalJson(payload)), privateKey).toString('base64url');
  return { ...payload, signature, key_id: 'bucket', alg: 'Ed25519' };
}

describe('verifyCheckpoint', () => {
  const { privateKey, publicPem } = keyPair();
  const checkpoint = signed(privateKey);

  it('accepts a checkpoint signed by the key', () => {
    expect(verifyCheckpoint(checkpoint, publicPem)).toBe(true);
    expect(verifyCheckpoint(JSON.parse(JSON.stringify(checkpoint)), Buffer.from(publicPem))).toBe(true);
  });

  it('rejects a tampered size, head_hash or timestamp', () => {
    expect(verifyCheckpoint({ ...checkpoint, size: 41 }, publicPem)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, head_hash: 'cd'.repeat(32) }, publicPem)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, timestamp: '2025-01-02T00:00:00.000001Z' }, publicPem)).toBe(false);
  });

  it('rejects another key, a broken signature and a wrong algorithm without throwing', () => {
    expect(verifyCheckpoint(checkpoint, keyPair().publicPem)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, signature: 'not-a-signature' }, publicPem)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, alg: 'RS256' as 'Ed25519' }, publicPem)).toBe(false);
    expect(verifyCheckpoint(checkpoint, 'not a pem')).toBe(false);
  });
});
