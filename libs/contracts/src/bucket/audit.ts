import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional } from 'class-validator';
import type { ChainFault } from './bucket-error-code';

/** `GET /audit/verify` query. */
export class AuditVerifyQueryDto {
  /**
   * true: re-hash the whole chain from seq 1. Default (false): re-hash only the entries after the point this
   * process last verified, after checking that the entry there still has the hash it had then.
   */
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'full must be true or false' })
  full?: boolean;
}

/** GET /audit/verify's query parameters: every field of AuditVerifyQueryDto (as EVENTS_QUERY_PARAMETERS). */
const AUDIT_VERIFY_QUERY_FIELDS: Record<keyof AuditVerifyQueryDto, true> = { full: true };
export const AUDIT_VERIFY_QUERY_PARAMETERS: readonly string[] = Object.keys(AUDIT_VERIFY_QUERY_FIELDS);

/**
 * `GET /audit/verify` reply: the chain recomputed from the rows (all of it, or incrementally after the last
 * verified point; see AuditVerifyQueryDto).
 */
export interface AuditVerifyResult {
  ok: boolean;
  /** Entries in the table. */
  size: number;
  /** Stored hash of the last entry (64 zeros when empty). */
  head_hash: string;
  /** The first seq that is missing, out of order, or does not hash to what was recorded. */
  first_bad_seq?: number;
  reason?: ChainFault;
  /** Entries 1..verified_from were verified before and only anchored (their last hash re-checked); 0 = full walk. */
  verified_from?: number;
}

/**
 * Core's `GET /audit/verify` reply: Bucket's verification compared with the latest checkpoint Core witnessed
 * (kept in Core's own database), which is what shows truncation and rewriting the chain alone cannot.
 */
export interface WitnessedVerifyResult extends AuditVerifyResult {
  /** The latest witnessed checkpoint, or null when Core has witnessed none yet. */
  witnessed: { size: number; head_hash: string; timestamp: string; witnessed_at: string } | null;
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
