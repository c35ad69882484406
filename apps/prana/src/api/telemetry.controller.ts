import { Body, Controller, HttpCode, HttpStatus, Logger, Post, Req } from '@nestjs/common';
import {
  MAX_PRANA_PACKETS,
  PRANA_FOCUS_STATES,
  PRANA_PACKET_DETAIL_FIELDS,
  PranaIngestDto,
  type PranaFocusState,
  type PranaIngestResult,
  type PranaPacket,
  type PranaRawSignals,
} from '@pancha/contracts';
import { ALL_PRODUCTS, PolicyService } from '@pancha/governance';
import { flattenValidationErrors } from '@pancha/service-kit';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { Request } from 'express';
import { SignedInService } from '../auth/signed-in.service';
import { PranaException } from '../prana.exception';
import { UpstreamService } from './upstream.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PACKET_SECONDS = 5;

interface FieldProblem {
  field: string;
  messages: string[];
}

/** A packet as the telemetry client sends it (the original PRANA fields, docs/PRANA.md, plus event_id). */
export interface ClientPacket {
  event_id: string;
  cognitive_state: PranaFocusState;
  timestamp: string;
  session_id?: string;
  lesson_id?: string;
  product?: string;
  system_type?: PranaPacket['system_type'];
  role?: PranaPacket['role'];
  active_seconds?: number;
  idle_seconds?: number;
  away_seconds?: number;
  focus_score?: number;
  raw_signals?: PranaRawSignals;
}

/** Checks the fields PRANA relies on; the user named in a packet is ignored: the signed-in user is the user. */
export function parseTelemetry(body: unknown): { packets: ClientPacket[]; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const packets = (body as { packets?: unknown } | undefined)?.packets;
  if (!Array.isArray(packets) || packets.length === 0 || packets.length > MAX_PRANA_PACKETS) {
    return { packets: [], problems: [{ field: 'packets', messages: [`packets must be a list of 1 to ${MAX_PRANA_PACKETS} packets`] }] };
  }
  packets.forEach((p: unknown, i) => {
    const at = (f: string) => `packets[${i}].${f}`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      problems.push({ field: `packets[${i}]`, messages: ['each packet must be an object'] });
      return;
    }
    const packet = p as Record<string, unknown>;
    if (typeof packet.event_id !== 'string' || !UUID.test(packet.event_id)) problems.push({ field: at('event_id'), messages: ['event_id must be a UUID'] });
    if (!PRANA_FOCUS_STATES.includes(packet.cognitive_state as PranaFocusState)) {
      problems.push({ field: at('cognitive_state'), messages: [`cognitive_state must be one of ${PRANA_FOCUS_STATES.join(', ')}`] });
    }
    if (typeof packet.timestamp !== 'string' || Number.isNaN(Date.parse(packet.timestamp))) {
      problems.push({ field: at('timestamp'), messages: ['timestamp must be an ISO 8601 date-time'] });
    }
    for (const f of ['session_id', 'lesson_id', 'product'] as const) {
      if (packet[f] !== undefined && (typeof packet[f] !== 'string' || packet[f] === '' || (packet[f] as string).length > 255)) {
        problems.push({ field: at(f), messages: [`${f} must be a non-empty string of at most 255 characters`] });
      }
    }
  });
  return { packets: problems.length ? [] : (packets as ClientPacket[]), problems };
}

/**
 * Packets outside the products people may see (config/policy.yaml `people.products`): a person writes only into
 * the products they may read. People restricted to some products must name one of them in every packet: a packet
 * without a product could be read back only by people who see every product, so it is refused like a foreign one.
 * Bucket refuses a foreign product too (PRANA's token is narrowed to the same list); this names the field.
 */
export function outsideProducts(packets: ClientPacket[], products: readonly string[]): FieldProblem[] {
  if (products.includes(ALL_PRODUCTS)) return [];
  const scope = products.join(', ') || 'none';
  return packets.flatMap((p, i) => {
    if (p.product === undefined) {
      return [{ field: `packets[${i}].product`, messages: [`product is required: you may see only some products (${scope}); name one of them`] }];
    }
    return products.includes(p.product) ? [] : [{ field: `packets[${i}].product`, messages: [`product ${p.product} is not one you may see (${scope})`] }];
  });
}

/**
 * The packets as Bucket stores them: the signed-in user, `state` for cognitive_state, and the original packet's
 * fields (seconds, focus_score, lesson_id, system_type, role, raw_signals) checked by the same rules Bucket
 * applies (PranaIngestDto in contracts), unknown keys dropped. Problems are named by the client's field names.
 */
export function forBucket(packets: ClientPacket[], userId: string): { packets: PranaPacket[]; problems: FieldProblem[] } {
  const mapped: PranaPacket[] = packets.map((p) => {
    const detail = Object.fromEntries(PRANA_PACKET_DETAIL_FIELDS.filter((f) => p[f] !== undefined).map((f) => [f, p[f]]));
    return {
      event_id: p.event_id,
      user_id: userId,
      ...(p.session_id ? { session_id: p.session_id } : {}),
      state: p.cognitive_state,
      timestamp: new Date(p.timestamp).toISOString(),
      duration_ms: PACKET_SECONDS * 1000,
      ...(p.product ? { product: p.product } : {}),
      ...detail,
    };
  });
  const dto = plainToInstance(PranaIngestDto, { packets: mapped });
  const errors = validateSync(dto, { whitelist: true, validationError: { target: false, value: false } });
  if (errors.length) {
    const problems = flattenValidationErrors(errors).map((e) => ({
      field: e.field.replace(/^packets\.(\d+)\.state$/, 'packets.$1.cognitive_state').replace(/^packets\.(\d+)/, 'packets[$1]'),
      messages: e.messages,
    }));
    return { packets: [], problems };
  }
  // Plain objects again (the DTO instances, with unknown keys dropped, serialise to the same JSON).
  return { packets: JSON.parse(JSON.stringify(dto.packets)) as PranaPacket[], problems: [] };
}

/**
 * Focus telemetry from the console: validated, stamped with the signed-in user, kept to the products people may
 * see, appended to Bucket's PRANA channel with PRANA's identity (narrowed to those products), and each change of focus state reported to Karma (which caps what it rewards
 * per day). Packets are deduplicated by event_id in Bucket, so a client retry counts once.
 */
@Controller('api')
export class TelemetryController {
  private readonly logger = new Logger(TelemetryController.name);

  constructor(
    private readonly signedIn: SignedInService,
    private readonly upstream: UpstreamService,
    private readonly policy: PolicyService,
  ) {}

  @Post('telemetry')
  @HttpCode(HttpStatus.ACCEPTED)
  async ingest(@Body() body: unknown, @Req() req: Request): Promise<{ accepted: number; duplicates: number }> {
    const { user } = await this.signedIn.require(req);
    const parsed = parseTelemetry(body);
    if (!parsed.problems.length) parsed.problems.push(...outsideProducts(parsed.packets, this.policy.peopleProducts()));
    const mapped = parsed.problems.length ? { packets: [], problems: parsed.problems } : forBucket(parsed.packets, user.username);
    const { problems } = mapped;
    if (problems.length) throw new PranaException(422, 'validation_failed', problems.map((p) => `${p.field}: ${p.messages.join(', ')}`).join('; '), { errors: problems });
    const packets = parsed.packets;
    const toBucket = mapped.packets;
    const answer = await this.upstream.call('bucket', 'POST', '/bucket/prana/ingest', {
      bearer: await this.upstream.personBearer('bucket'),
      body: { packets: toBucket },
      req,
    });
    if (answer.status !== 200 && answer.status !== 201) {
      const status = answer.status >= 500 ? HttpStatus.BAD_GATEWAY : answer.status;
      throw new PranaException(status, 'bucket_refused', `Bucket answered ${answer.status}`, { service: 'bucket', upstream: answer.body });
    }
    const result = answer.body as PranaIngestResult;
    await this.reportFocusChanges(req, user.username, packets, result);
    return { accepted: result.accepted, duplicates: result.duplicates };
  }

  /** Karma hears of each new state (not every 5 s sample); it rewards focus under its own daily cap. */
  private async reportFocusChanges(req: Request, userId: string, packets: ClientPacket[], result: PranaIngestResult): Promise<void> {
    const fresh = new Set(result.entries.filter((e) => !e.duplicate && !e.conflict).map((e) => e.event_id));
    let last = req.session.last_focus_state;
    const sorted = [...packets].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    for (const p of sorted) {
      if (!fresh.has(p.event_id) || p.cognitive_state === last) continue;
      last = p.cognitive_state;
      try {
        const answer = await this.upstream.call('karma', 'POST', '/v1/event', {
          bearer: await this.upstream.personBearer('karma'),
          body: {
            type: 'life_event',
            data: { event_id: p.event_id, user_id: userId, action: p.cognitive_state.toLowerCase() },
            timestamp: new Date(p.timestamp).toISOString(),
            source: 'prana',
          },
          req,
        });
        if (answer.status >= 300) this.logger.warn(`Karma refused the focus state of ${p.event_id}: ${answer.status}`);
      } catch (error) {
        // Bucket holds the packet; a missed Karma reward is not worth failing the client's batch over.
        this.logger.warn(`Karma unreachable for focus state ${p.event_id}: ${(error as Error).message}`);
      }
    }
    req.session.last_focus_state = last;
  }
}
