import { ChainFault, GENESIS_HASH } from '@pancha/contracts';
import type { AuditVerifyResult } from '@pancha/contracts';
import { computeContentHash, computeEntryHash } from './chain-hash';
import type { ChainEntry } from './chain-hash';

/**
 * Walks a chain one entry at a time (so a caller can stream rows in batches) and remembers the first
 * entry that breaks it. Seq must run 1, 2, 3… with no gap; each prev_hash must be the hash before it;
 * event_data must match its content_hash; every hash must recompute from the entry's own fields.
 * Removing the newest entries leaves a valid shorter chain: compare with a signed checkpoint for that.
 */
export class ChainVerifier {
  private expectedSeq: number;
  private prevHash: string;
  private size: number;
  private headHash: string;
  private fault: { seq: number; reason: ChainFault } | undefined;

  /**
   * `from` is a point already verified (entries 1..size, the last with hash head_hash): the walk then starts
   * at seq size + 1, linked to that hash, and the result counts the verified prefix in its size.
   */
  constructor(from: { size: number; head_hash: string } = { size: 0, head_hash: GENESIS_HASH }) {
    this.expectedSeq = from.size + 1;
    this.prevHash = from.head_hash;
    this.size = from.size;
    this.headHash = from.head_hash;
  }

  push(entry: ChainEntry): void {
    this.size += 1;
    this.headHash = entry.hash;
    if (this.fault) return;
    const reason = this.check(entry);
    if (reason) {
      // A gap is reported at the missing seq; anything else at the entry that no longer checks out.
      this.fault = { seq: this.expectedSeq, reason };
      return;
    }
    this.expectedSeq += 1;
    this.prevHash = entry.hash;
  }

  result(): AuditVerifyResult {
    const base = { size: this.size, head_hash: this.headHash };
    return this.fault
      ? { ok: false, ...base, first_bad_seq: this.fault.seq, reason: this.fault.reason }
      : { ok: true, ...base };
  }

  private check(entry: ChainEntry): ChainFault | undefined {
    if (entry.seq !== this.expectedSeq) return ChainFault.SeqGap;
    if (entry.prev_hash !== this.prevHash) return ChainFault.PrevHashMismatch;
    if (computeContentHash(entry.event_data) !== entry.content_hash) return ChainFault.ContentHashMismatch;
    if (computeEntryHash(entry.prev_hash, entry) !== entry.hash) return ChainFault.HashMismatch;
    return undefined;
  }
}

/** Verifies an in-memory chain (tests, exported audits). */
export function verifyChain(entries: Iterable<ChainEntry>): AuditVerifyResult {
  const verifier = new ChainVerifier();
  for (const entry of entries) verifier.push(entry);
  return verifier.result();
}
