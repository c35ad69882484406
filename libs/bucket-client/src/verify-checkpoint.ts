import { canonicalJson } from '@pancha/contracts';
import type { CheckpointPayload, SignedCheckpoint } from '@pancha/contracts';
import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** The exact bytes Bucket signs for a checkpoint. */
export function checkpointSigningBytes(checkpoint: CheckpointPayload): Buffer {
  const { size, head_hash, timestamp } = checkpoint;
  return Buffer.from(canonicalJson({ size, head_hash, timestamp }), 'utf8');
}

/**
 * True when `checkpoint` carries a valid Ed25519 signature by the holder of `publicKey` (Bucket's
 * `bucket.pub.pem`) over its size, head_hash and timestamp. Never throws: a malformed checkpoint or
 * key is simply not valid.
 */
export function verifyCheckpoint(checkpoint: SignedCheckpoint, publicKey: string | Buffer | KeyObject): boolean {
  try {
    if (checkpoint.alg !== 'Ed25519' || typeof checkpoint.signature !== 'string') return false;
    if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0) return false;
    if (typeof checkpoint.head_hash !== 'string' || typeof checkpoint.timestamp !== 'string') return false;
    const key = typeof publicKey === 'string' || Buffer.isBuffer(publicKey) ? createPublicKey(publicKey) : publicKey;
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(null, checkpointSigningBytes(checkpoint), key, Buffer.from(checkpoint.signature, 'base64url'));
  } catch {
    return false;
  }
}
