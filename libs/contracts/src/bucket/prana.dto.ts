import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { BUCKET_LIMITS } from './write-event.dto';

/** The focus states PRANA's telemetry client reports (SPEC §2). */
export const PRANA_FOCUS_STATES = ['AWAY', 'DISTRACTED', 'IDLE', 'OFF_TASK', 'DEEP_FOCUS', 'THINKING', 'ON_TASK'] as const;
export type PranaFocusState = (typeof PRANA_FOCUS_STATES)[number];

/** Event type of the entries an ingested packet becomes. */
export const PRANA_PACKET_EVENT_TYPE = 'prana_packet';
export const MAX_PRANA_PACKETS = 500;

/** One focus sample. */
export interface PranaPacket {
  /** uuid; a packet sent again (client retry) is recorded once. */
  event_id: string;
  user_id: string;
  session_id?: string;
  state: PranaFocusState;
  /** When the client observed the state, ISO 8601. */
  timestamp: string;
  duration_ms?: number;
  product?: string;
}

export class PranaPacketDto implements PranaPacket {
  @IsUUID('all')
  event_id: string;

  @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.userId)
  user_id: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(255)
  session_id?: string;

  @IsIn(PRANA_FOCUS_STATES)
  state: PranaFocusState;

  @IsISO8601({ strict: true })
  timestamp: string;

  @IsOptional() @IsInt() @Min(0) @Max(86_400_000)
  duration_ms?: number;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(BUCKET_LIMITS.product)
  product?: string;
}

/** `POST /bucket/prana/ingest` body: 1..500 packets, appended in one transaction. */
export class PranaIngestDto {
  // IsObject each: ValidateNested walks into a nested array ([[]]) and finds nothing wrong with it.
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(MAX_PRANA_PACKETS)
  @IsObject({ each: true, message: 'each packet must be an object' })
  @ValidateNested({ each: true }) @Type(() => PranaPacketDto)
  packets: PranaPacketDto[];
}

export interface PranaIngestResult {
  /** Packets recorded by this call. */
  accepted: number;
  /** Packets whose event_id was already recorded with the same content (or repeated within the batch). */
  duplicates: number;
  /** Packets whose event_id was already recorded with other content: refused, the original stands. */
  conflicts: number;
  /** Every packet in request order with the seq of its entry (the original one for duplicates and conflicts). */
  entries: Array<{ event_id: string; seq: number; duplicate: boolean; conflict: boolean }>;
}

/** `GET /bucket/prana/user/:user_id` query. */
export class PranaUserQueryDto {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;
}

/** A recorded packet as read back. */
export interface PranaPacketView extends PranaPacket {
  seq: number;
  created_at: string;
}

/** `GET /bucket/prana/user/:user_id` reply: the latest packets (oldest first) and counts over all of the user's packets. */
export interface PranaUserPackets {
  user_id: string;
  total: number;
  counts: Record<PranaFocusState, number>;
  packets: PranaPacketView[];
}
