import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  Validate,
  ValidateNested,
  ValidatorConstraint,
  type ValidationArguments,
  type ValidatorConstraintInterface,
} from 'class-validator';
import { BUCKET_LIMITS } from './write-event.dto';

/** The focus states PRANA's telemetry client reports (SPEC §2). */
export const PRANA_FOCUS_STATES = ['AWAY', 'DISTRACTED', 'IDLE', 'OFF_TASK', 'DEEP_FOCUS', 'THINKING', 'ON_TASK'] as const;
export type PranaFocusState = (typeof PRANA_FOCUS_STATES)[number];

/** Event type of the entries an ingested packet becomes. */
export const PRANA_PACKET_EVENT_TYPE = 'prana_packet';
export const MAX_PRANA_PACKETS = 500;

/** The original client's packet window (docs/PRANA.md): active + idle + away seconds sum to this. */
export const PRANA_PACKET_SECONDS = 5;
export const PRANA_SYSTEM_TYPES = ['gurukul', 'ems'] as const;
export const PRANA_ROLES = ['student', 'employee'] as const;

/**
 * The signal counters of one packet window, as the original client sends them (`raw_signals`): counts and
 * timings only. Unknown keys are dropped (whitelist), every value is bounded, so a stored entry stays small.
 */
export interface PranaRawSignals {
  keystrokes?: number;
  mouse_moves?: number;
  mouse_velocity_peak?: number;
  mouse_velocity_avg?: number;
  scrolls?: number;
  clicks?: number;
  rapid_clicks?: number;
  tab_switches?: number;
  dwell_seconds?: number;
  idle_seconds?: number | null;
  visible?: boolean;
  window_focused?: boolean;
  panel_focused?: boolean;
}

/** Upper bounds of raw_signals: generous for 5 s of input, small enough that nothing else hides in them. */
export const PRANA_SIGNAL_LIMITS = { count: 100_000, velocity: 1_000_000, seconds: 31_536_000 } as const;

export class PranaRawSignalsDto implements PranaRawSignals {
  @IsOptional() @IsInt() @Min(0) @Max(PRANA_SIGNAL_LIMITS.count) keystrokes?: number;
  @IsOptional() @IsInt() @Min(0) @Max(PRANA_SIGNAL_LIMITS.count) mouse_moves?: number;
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(PRANA_SIGNAL_LIMITS.velocity) mouse_velocity_peak?: number;
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(PRANA_SIGNAL_LIMITS.velocity) mouse_velocity_avg?: number;
  @IsOptional() @IsInt() @Min(0) @Max(PRANA_SIGNAL_LIMITS.count) scrolls?: number;
  @IsOptional() @IsInt() @Min(0) @Max(PRANA_SIGNAL_LIMITS.count) clicks?: number;
  @IsOptional() @IsInt() @Min(0) @Max(PRANA_SIGNAL_LIMITS.count) rapid_clicks?: number;
  @IsOptional() @IsInt() @Min(0) @Max(PRANA_SIGNAL_LIMITS.count) tab_switches?: number;
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(PRANA_SIGNAL_LIMITS.seconds) dwell_seconds?: number;
  /** Seconds since the last input; null before any. */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(PRANA_SIGNAL_LIMITS.seconds) idle_seconds?: number | null;
  @IsOptional() @IsBoolean() visible?: boolean;
  @IsOptional() @IsBoolean() window_focused?: boolean;
  @IsOptional() @IsBoolean() panel_focused?: boolean;
}

/**
 * active_seconds, idle_seconds and away_seconds come together and sum to 5.0 (to a tenth's rounding). On all
 * three fields: an optional field's checks run only when it is present, so one present field checks the others.
 */
@ValidatorConstraint({ name: 'packetSecondsSum' })
export class PacketSecondsSum implements ValidatorConstraintInterface {
  validate(_value: unknown, args: ValidationArguments): boolean {
    const p = args.object as PranaPacket;
    const parts = [p.active_seconds, p.idle_seconds, p.away_seconds];
    if (parts.every((x) => x === undefined)) return true;
    if (!parts.every((x) => typeof x === 'number' && Number.isFinite(x))) return false;
    return Math.abs((parts as number[]).reduce((a, b) => a + b, 0) - PRANA_PACKET_SECONDS) <= 0.05;
  }
  defaultMessage(): string {
    return `active_seconds, idle_seconds and away_seconds go together and sum to ${PRANA_PACKET_SECONDS.toFixed(1)}`;
  }
}

/**
 * One focus sample: the original client's packet (docs/PRANA.md) with `state` for its cognitive_state. The
 * fields after `product` are optional for writers that only know the state, and stored as sent when present.
 */
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
  lesson_id?: string;
  system_type?: (typeof PRANA_SYSTEM_TYPES)[number];
  role?: (typeof PRANA_ROLES)[number];
  active_seconds?: number;
  idle_seconds?: number;
  away_seconds?: number;
  /** 0..100: the state's base minus penalties, scaled by the active share. */
  focus_score?: number;
  raw_signals?: PranaRawSignals;
}

/** The optional packet fields beyond the state, in the order they are stored. */
export const PRANA_PACKET_DETAIL_FIELDS = [
  'lesson_id', 'system_type', 'role', 'active_seconds', 'idle_seconds', 'away_seconds', 'focus_score', 'raw_signals',
] as const satisfies ReadonlyArray<keyof PranaPacket>;

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

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(255)
  lesson_id?: string;

  @IsOptional() @IsIn(PRANA_SYSTEM_TYPES)
  system_type?: (typeof PRANA_SYSTEM_TYPES)[number];

  @IsOptional() @IsIn(PRANA_ROLES)
  role?: (typeof PRANA_ROLES)[number];

  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(PRANA_PACKET_SECONDS)
  @Validate(PacketSecondsSum)
  active_seconds?: number;

  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(PRANA_PACKET_SECONDS)
  @Validate(PacketSecondsSum)
  idle_seconds?: number;

  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(PRANA_PACKET_SECONDS)
  @Validate(PacketSecondsSum)
  away_seconds?: number;

  @IsOptional() @IsInt() @Min(0) @Max(100)
  focus_score?: number;

  @IsOptional() @IsObject() @ValidateNested() @Type(() => PranaRawSignalsDto)
  raw_signals?: PranaRawSignalsDto;
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
  /**
   * Every packet in request order with the seq of its entry (the original one for duplicates and conflicts). A
   * conflict with an entry of a product outside the caller's products has no `seq`: ids cannot be probed.
   */
  entries: Array<{ event_id: string; seq?: number; duplicate: boolean; conflict: boolean }>;
}

/** `GET /bucket/prana/user/:user_id` query. */
export class PranaUserQueryDto {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;
}

/** GET /bucket/prana/user/:user_id's query parameters: every field of PranaUserQueryDto (as EVENTS_QUERY_PARAMETERS). */
const PRANA_USER_QUERY_FIELDS: Record<keyof PranaUserQueryDto, true> = { limit: true };
export const PRANA_USER_QUERY_PARAMETERS: readonly string[] = Object.keys(PRANA_USER_QUERY_FIELDS);

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
