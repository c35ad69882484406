import { Type } from 'class-transformer';
import { IsDefined, IsNotEmpty, IsObject, IsOptional, IsString, IsUUID, MaxLength, ValidateNested } from 'class-validator';
import { ID_LIMITS, MAX_JSON_DEPTH } from '../common/api-error';
import type { BucketChannel, BucketEventData, WriteEventData, WriteEventRequest } from './bucket-event';

/** Longest accepted value of each indexed field (characters). */
export const BUCKET_LIMITS = {
  eventType: 128,
  traceId: 128,
  product: ID_LIMITS.product,
  userId: 255,
  /** event_data.agent_id (read-context finds entries by it through an index, whose rows hold at most 2.7 kB). */
  agentId: 255,
  requesterId: 64,
  /** Deepest nesting of objects/arrays accepted in a request body (the body itself is depth 1). */
  jsonDepth: MAX_JSON_DEPTH,
} as const;

/**
 * The validated part of event_data: the fields Bucket indexes. Any other member is accepted as is
 * (the service stores the body's event_data verbatim, not this instance).
 */
export class BucketEventDataDto {
  /** Optional: without it the key is derived from the requester and the canonical content. */
  @IsOptional() @IsUUID('all')
  event_id?: string;

  @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.eventType)
  event_type: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.traceId)
  trace_id?: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.product)
  product?: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.userId)
  user_id?: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.agentId)
  agent_id?: string;
}

export class WriteEventRequestDto implements WriteEventRequest {
  @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.requesterId)
  requester_id: string;

  @IsDefined() @IsObject() @ValidateNested() @Type(() => BucketEventDataDto)
  event_data: BucketEventDataDto & WriteEventData;
}

/**
 * 201 (new entry) or 200 (replay of the same event_id with the same content). `success` and `message` are the
 * original service's reply, kept for its clients; the rest is Pancha's.
 */
export interface WriteEventResult {
  success: true;
  /** Human-readable outcome ("event recorded" / "event already recorded"). */
  message: string;
  /** The idempotency key: the one sent, or the one derived from requester and content when none was. */
  event_id: string;
  seq: number;
  hash: string;
  /** True when the event was already recorded and the original entry is returned. */
  replayed: boolean;
}

/** One entry of the chain as readers see it. */
export interface BucketEntry {
  seq: number;
  event_id: string;
  requester_id: string;
  channel: BucketChannel;
  event_type: string;
  trace_id: string | null;
  product: string | null;
  user_id: string | null;
  event_data: BucketEventData;
  /** sha256 (hex) of the canonical JSON of event_data. */
  content_hash: string;
  /** Hash of the previous entry (64 zeros for seq 1). */
  prev_hash: string;
  hash: string;
  /** Server time of the append, ISO 8601 in UTC with milliseconds (part of the hash). */
  created_at: string;
}
