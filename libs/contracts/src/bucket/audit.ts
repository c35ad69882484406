import type { ChainFault } from './bucket-error-code';

/** `GET /audit/verify` reply: the whole chain recomputed from the rows. */
export interface AuditVerifyResult {
  ok: boolean;
  /** Entries in the table. */
  size: number;
  /** Stored hash of the last entry (64 zeros when empty). */
  head_hash: string;
  /** The first seq that is missing, out of order, or does not hash to what was recorded. */
  first_bad_seq?: number;
  reason?: ChainFault;
}

/** What the checkpoint signature covers: canonicalJson({ size, head_hash, timestamp }). */
export interface CheckpointPayload {
  size: number;
  head_hash: string;
  /** When the checkpoint was signed, ISO 8601 UTC. */
  timestamp: string;
}

/** `GET /audit/checkpoint` reply: keep these; a later chain must extend them (same hash at that size). */
export interface SignedCheckpoint extends CheckpointPayload {
  /** Ed25519 signature over the UTF-8 bytes of canonicalJson({ size, head_hash, timestamp }), base64url. */
  signature: string;
  /** Requester id whose key signed: verify with `<key_id>.pub.pem`. */
  key_id: 'bucket';
  alg: 'Ed25519';
}

/** All-zero hash: the prev_hash of seq 1 and the head of an empty chain. */
export const GENESIS_HASH = '0'.repeat(64);
