import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { BUCKET_LIMITS } from './write-event.dto';
import type { BucketEntry } from './write-event.dto';

export const MAX_EVENTS_PAGE = 1000;
export const DEFAULT_EVENTS_PAGE = 100;
export const DEFAULT_READ_CONTEXT_LIMIT = 20;

/** `GET /core/events` query: filters plus keyset paging by seq. */
export class EventsQueryDto {
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.traceId)
  trace_id?: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.product)
  product?: string;

  /** Entries recorded for this user (the entry's user_id column; indexed with seq). */
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.userId)
  user_id?: string;

  /** Return entries with seq strictly greater than this (0 = from the start). */
  // Beyond 2^53 a JS number no longer names one seq (and PostgreSQL's bigint ends at 2^63): a 422, not a 500.
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER)
  after_seq?: number;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(MAX_EVENTS_PAGE)
  limit?: number;
}

/**
 * GET /core/events's query parameters: every field of EventsQueryDto (a Record over its keys, so a field added to the
 * DTO and not here fails to compile). Bucket answers any other name with a 400 and a repeated one with a 422
 * (`@QueryParameters`), since the validation pipe's whitelist would drop a typo and answer every entry as if filtered.
 */
const EVENTS_QUERY_FIELDS: Record<keyof EventsQueryDto, true> = { trace_id: true, product: true, user_id: true, after_seq: true, limit: true };
export const EVENTS_QUERY_PARAMETERS: readonly string[] = Object.keys(EVENTS_QUERY_FIELDS);

/** `GET /core/events` reply, ordered by seq; pass next_after_seq back as after_seq for the next page. */
export interface EventsPage {
  events: BucketEntry[];
  /** null when there is nothing after this page. */
  next_after_seq: number | null;
}

/** `GET /core/read-context` query. */
export class ReadContextQueryDto {
  @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.userId)
  agent_id: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(MAX_EVENTS_PAGE)
  limit?: number;
}

/** GET /core/read-context's query parameters: every field of ReadContextQueryDto (as EVENTS_QUERY_PARAMETERS). */
const READ_CONTEXT_QUERY_FIELDS: Record<keyof ReadContextQueryDto, true> = { agent_id: true, limit: true };
export const READ_CONTEXT_QUERY_PARAMETERS: readonly string[] = Object.keys(READ_CONTEXT_QUERY_FIELDS);

/** `GET /core/read-context` reply: the latest entries whose user_id or event_data.agent_id is the agent, newest first. */
export interface ReadContextResult {
  agent_id: string;
  events: BucketEntry[];
}

/** `GET /core/stats` reply. Counts cover the entries the caller may see (its products). */
export interface BucketStats {
  /** Entries in the whole chain (= head seq); only for a caller that sees every product. */
  size?: number;
  /** Hash of the newest entry (64 zeros when empty); only for a caller that sees every product. */
  head_hash?: string;
  /** Entries the caller may see. */
  visible: number;
  by_event_type: Record<string, number>;
  by_channel: Record<string, number>;
  by_requester: Record<string, number>;
}
