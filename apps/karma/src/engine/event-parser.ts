import { HttpStatus } from '@nestjs/common';
import {
  AppealDataDto,
  AtonementDataDto,
  canonicalJson,
  FieldError,
  KARMA_EVENT_DATA_DTOS,
  KarmaErrorCode,
  KarmaEventRequestDto,
  KarmaEventType,
  LifeEventDataDto,
  parseTimestamp,
} from '@pancha/contracts';
import { flattenValidationErrors, plainToInstanceAsSent, validationException } from '@pancha/service-kit';
import { validateSync } from 'class-validator';
import { createHash, randomUUID } from 'node:crypto';
import type { KarmaModelConfig } from '../config/karma-config';
import { KarmaException, vocabularyException } from './karma.exception';

interface ParsedBase {
  eventId: string;
  /** False when Karma made the id up: such an event cannot be replayed, and a stats_request is not stored. */
  clientEventId: boolean;
  /** sha256 of the canonical type + data (without event_id): tells a replay from a reuse of the id. */
  fingerprint: string;
  userId: string;
  occurredAt: number | null;
  source: string | null;
}

export type ParsedKarmaEvent =
  | (ParsedBase & { type: KarmaEventType.LifeEvent; action: string; details: Record<string, unknown> })
  | (ParsedBase & { type: KarmaEventType.Atonement; planId: string; atonementType: string; amount: number; details: Record<string, unknown> })
  | (ParsedBase & { type: KarmaEventType.Appeal; action: string; context: string | Record<string, unknown> | null })
  | (ParsedBase & { type: KarmaEventType.DeathEvent })
  | (ParsedBase & { type: KarmaEventType.StatsRequest });

function oneOf(field: string, allowed: readonly string[]): FieldError {
  return { field, messages: [`${field} must be one of: ${allowed.join(', ')}`] };
}

/** Names are matched case-insensitively (PRANA reports DEEP_FOCUS, the vocabulary says deep_focus). */
function normalize(name: string): string {
  return name.trim().toLowerCase();
}

/** The configured action a name stands for (itself or through an alias), or null for an unknown name. */
function resolveAction(cfg: KarmaModelConfig, action: string): string | null {
  const name = normalize(action);
  if (cfg.actions[name]) return name;
  return cfg.actionAliases[name] ?? null;
}

/**
 * Validates an event envelope's data for its type against the contracts and the configured vocabulary.
 * Everything a caller can get wrong is a 422 here, before anything touches the database.
 */
export function parseKarmaEvent(cfg: KarmaModelConfig, body: KarmaEventRequestDto, now: number): ParsedKarmaEvent {
  const dto = KARMA_EVENT_DATA_DTOS[body.type];
  // class-transformer walks a copy without members named __proto__, constructor or prototype; a context or metadata
  // object is then recorded as sent (declared with keepAsSent beside the events controller).
  const data = plainToInstanceAsSent(dto as new () => object, body.data) as Record<string, unknown>;
  const errors = validateSync(data, { validationError: { target: false, value: false } });
  if (errors.length) throw validationException(flattenValidationErrors(errors, 'data'));

  // An explicit null (what a Python client sends for None) means "not given", for the envelope as for data.
  let occurredAt: number | null = null;
  if (body.timestamp !== undefined && body.timestamp !== null) {
    // The instant the DTO's check read (parseTimestamp), never Date.parse: that one reads some forms the check takes
    // otherwise (a time without offset in the process's zone) or not at all (`T10:00+05`: NaN, then a 500).
    occurredAt = (parseTimestamp(body.timestamp) as Date).getTime();
    if (occurredAt > now + cfg.maxFutureSkewSeconds * 1000) {
      throw new KarmaException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        KarmaErrorCode.TimestampInFuture,
        `timestamp ${body.timestamp} lies more than ${cfg.maxFutureSkewSeconds} s in the future`,
        [{ field: 'timestamp', messages: [`must not lie more than ${cfg.maxFutureSkewSeconds} s in the future`] }],
      );
    }
  }

  const rawEventId = body.data.event_id as string | undefined;
  const content = { ...body.data };
  delete content.event_id;
  const base: ParsedBase = {
    eventId: rawEventId ? rawEventId.toLowerCase() : randomUUID(),
    clientEventId: Boolean(rawEventId),
    fingerprint: createHash('sha256').update(canonicalJson({ type: body.type, data: content })).digest('hex'),
    userId: data.user_id as string,
    occurredAt,
    source: body.source ?? null,
  };

  switch (body.type) {
    case KarmaEventType.LifeEvent: {
      const d = data as unknown as LifeEventDataDto;
      const action = resolveAction(cfg, d.action);
      if (!action) throw vocabularyException(KarmaErrorCode.UnknownAction, [oneOf('data.action', cfg.actionNames)]);
      const details: Record<string, unknown> = {};
      if (action !== normalize(d.action)) details.action_alias = normalize(d.action);
      if (isGiven(d.note)) details.note = d.note;
      if (isGiven(d.context)) details.context = d.context;
      if (isGiven(d.metadata)) details.metadata = d.metadata;
      // A claim, kept for the record only, whatever it says ("user", "guru"): the role that counts is derived from merit.
      if (isGiven(d.role)) details.role_claimed = d.role.trim();
      if (base.source) details.source = base.source;
      return { ...base, type: body.type, action, details };
    }
    case KarmaEventType.Atonement: {
      const d = data as unknown as AtonementDataDto;
      const kind = cfg.atonementTypes.find((t) => t.toLowerCase() === normalize(d.atonement_type));
      if (!kind) throw vocabularyException(KarmaErrorCode.UnknownAtonementType, [oneOf('data.atonement_type', cfg.atonementTypes)]);
      const details: Record<string, unknown> = {};
      if (isGiven(d.proof_text)) details.proof_text = d.proof_text;
      if (isGiven(d.tx_hash)) details.tx_hash = d.tx_hash;
      return { ...base, type: body.type, planId: d.plan_id.trim(), atonementType: kind, amount: d.amount, details };
    }
    case KarmaEventType.Appeal: {
      const d = data as unknown as AppealDataDto;
      const action = resolveAction(cfg, d.action);
      if (!action) throw vocabularyException(KarmaErrorCode.UnknownAction, [oneOf('data.action', cfg.actionNames)]);
      return { ...base, type: body.type, action, context: d.context ?? null };
    }
    case KarmaEventType.DeathEvent:
      return { ...base, type: body.type };
    case KarmaEventType.StatsRequest:
      return { ...base, type: body.type };
    default:
      return assertUnreachable(body.type);
  }
}

/** Optional fields may arrive as null (a Python client's None): null is "not given", like undefined. */
function isGiven<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null;
}

function assertUnreachable(value: never): never {
  throw new Error(`unhandled event type ${String(value)}`);
}
