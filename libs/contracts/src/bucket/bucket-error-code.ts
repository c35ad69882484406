/** Bucket's own error codes (beside CommonErrorCode): the `code` of its error bodies. */
export enum BucketErrorCode {
  /** The event_id was already recorded with different content (or by another requester). */
  EventIdConflict = 'event_id_conflict',
  /** The caller's credential does not name the product it asked for or wrote. */
  ProductForbidden = 'product_forbidden',
  /** The policy does not let this requester write this channel (only a channel's owner writes its timeline). */
  ChannelForbidden = 'channel_forbidden',
  /** Whole-chain views (audit, chain size and head) are for callers that see every product. */
  WholeChainForbidden = 'whole_chain_forbidden',
}

/** Why `GET /audit/verify` stopped trusting the chain at `first_bad_seq`. */
export enum ChainFault {
  /** A sequence number is missing or out of order (a row was deleted or moved). */
  SeqGap = 'seq_gap',
  /** The entry's prev_hash is not the hash of the entry before it. */
  PrevHashMismatch = 'prev_hash_mismatch',
  /** event_data no longer matches the content_hash recorded with it. */
  ContentHashMismatch = 'content_hash_mismatch',
  /** The entry's fields no longer hash to its recorded hash. */
  HashMismatch = 'hash_mismatch',
  /** The chain is shorter than a witnessed checkpoint: its newest entries were removed. */
  Truncated = 'truncated',
  /** The entry at a witnessed checkpoint's size no longer has the witnessed hash: the chain was rewritten. */
  CheckpointMismatch = 'checkpoint_mismatch',
}
