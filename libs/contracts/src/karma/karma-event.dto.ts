import {
  IsDefined,
  IsIn,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsPositive,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  ValidateBy,
  ValidationOptions,
} from 'class-validator';
import { FIELD_LIMITS } from '../common/field-limits';
import { IsNotBlank } from '../common/not-blank';
import { IsTimestamp } from '../common/timestamp';

/** The five event types of `POST /v1/event/` (SPEC §2; names kept from the original Karma service). */
export enum KarmaEventType {
  LifeEvent = 'life_event',
  Atonement = 'atonement',
  Appeal = 'appeal',
  DeathEvent = 'death_event',
  StatsRequest = 'stats_request',
}

export const KARMA_EVENT_TYPES: readonly KarmaEventType[] = Object.values(KarmaEventType);

/** Longest accepted value of each field (characters). */
export const KARMA_LIMITS = {
  userId: FIELD_LIMITS.userId,
  name: FIELD_LIMITS.name,
  source: FIELD_LIMITS.source,
  note: FIELD_LIMITS.note,
  /** A string context, or the JSON of an object context. */
  context: FIELD_LIMITS.context,
  proof: 2000,
  txHash: 128,
  /** Largest atonement amount in one event: far beyond any plan, and short of sums that overflow to Infinity. */
  amount: 1_000_000_000,
} as const;

/** The envelope every Karma event arrives in. `data` is validated per type by the service. */
export interface KarmaEventRequest {
  type: `${KarmaEventType}`;
  data: Record<string, unknown>;
  /** When the event happened (ISO 8601); Karma scores by the time it received the event (see the Karma README). null = not given. */
  timestamp?: string | null;
  source?: string | null;
}

export class KarmaEventRequestDto implements KarmaEventRequest {
  @IsIn(KARMA_EVENT_TYPES, { message: `type must be one of: ${KARMA_EVENT_TYPES.join(', ')}` })
  type: KarmaEventType;

  @IsDefined() @IsObject()
  data: Record<string, unknown>;

  @IsOptional() @IsTimestamp()
  timestamp?: string | null;

  @IsOptional() @IsString() @MaxLength(KARMA_LIMITS.source)
  source?: string | null;
}

/** A context is free text or a JSON object (the executor and PRANA send objects; the original service accepted only strings). */
export function IsStringOrObject(maxChars: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStringOrObject',
      validator: {
        validate: (value: unknown) => {
          if (typeof value === 'string') return value.length <= maxChars;
          if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
            return JSON.stringify(value).length <= maxChars;
          }
          return false;
        },
        defaultMessage: () => `$property must be a string or a JSON object of at most ${maxChars} characters`,
      },
    },
    options,
  );
}

class UserScopedDataDto {
  @IsOptional() @IsUUID('all')
  event_id?: string;

  @IsString() @IsNotEmpty() @IsNotBlank() @MaxLength(KARMA_LIMITS.userId)
  user_id: string;
}

/**
 * life_event: a user did `action`. `role` is the sender's claim (the original executor sends "user"): any
 * name is accepted and recorded with the event, none is used to score; Karma derives the role from merit.
 */
export class LifeEventDataDto extends UserScopedDataDto {
  @IsString() @IsNotEmpty() @MaxLength(KARMA_LIMITS.name)
  action: string;

  @IsOptional() @IsString() @MaxLength(KARMA_LIMITS.name)
  role?: string;

  @IsOptional() @IsString() @MaxLength(KARMA_LIMITS.note)
  note?: string;

  @IsOptional() @IsStringOrObject(KARMA_LIMITS.context)
  context?: string | Record<string, unknown>;

  @IsOptional() @IsObject()
  metadata?: Record<string, unknown>;
}

/** atonement: progress of one kind (Jap, Tap, Bhakti, Daan) against the plan of one paap entry. */
export class AtonementDataDto extends UserScopedDataDto {
  /** The plan id from the profile's atonement_plans (the paap entry's ledger seq). */
  @IsString() @IsNotEmpty() @MaxLength(KARMA_LIMITS.name)
  plan_id: string;

  @IsString() @IsNotEmpty() @MaxLength(KARMA_LIMITS.name)
  atonement_type: string;

  @IsNumber({ allowNaN: false, allowInfinity: false }) @IsPositive() @Max(KARMA_LIMITS.amount)
  amount: number;

  @IsOptional() @IsString() @MaxLength(KARMA_LIMITS.proof)
  proof_text?: string;

  @IsOptional() @IsString() @MaxLength(KARMA_LIMITS.txHash)
  tx_hash?: string;
}

/** appeal: a user asks for review of an action (usually a paap one); recorded and shown in the profile. */
export class AppealDataDto extends UserScopedDataDto {
  @IsString() @IsNotEmpty() @MaxLength(KARMA_LIMITS.name)
  action: string;

  @IsOptional() @IsStringOrObject(KARMA_LIMITS.context)
  context?: string | Record<string, unknown>;
}

/** death_event: assigns the loka from the user's net karma at that moment. */
export class DeathEventDataDto extends UserScopedDataDto {}

/** stats_request: the user's profile, as an event. */
export class StatsRequestDataDto extends UserScopedDataDto {}

export const KARMA_EVENT_DATA_DTOS = {
  [KarmaEventType.LifeEvent]: LifeEventDataDto,
  [KarmaEventType.Atonement]: AtonementDataDto,
  [KarmaEventType.Appeal]: AppealDataDto,
  [KarmaEventType.DeathEvent]: DeathEventDataDto,
  [KarmaEventType.StatsRequest]: StatsRequestDataDto,
} as const;
