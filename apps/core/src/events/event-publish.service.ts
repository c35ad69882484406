import { HttpStatus, Injectable } from '@nestjs/common';
import { EVENT_LIMITS, type EventAccepted, type EventBatchAccepted, type EventBatchItem, type EventBatchOutcome, type FieldError } from '@pancha/contracts';
import { PolicyService, productFilter, type VerifiedRequester } from '@pancha/governance';
import { answerEachItemWith, DomainException } from '@pancha/service-kit';
import { batchTooLarge, EventErrorCode, invalidEvents, readEvent } from './event-intake';
import { TaskProductForbiddenException } from '../tasks/tasks.exception';
import { type AcceptedEvent, EventRouterService, productOf } from './event-router.service';
import { EventSchemasService } from './event-schemas.service';

/**
 * One way in for events, whatever carried them (POST /events, or the pillars' JetStream hop): the shape and the
 * type's schema (422 naming each field), the publisher's right to each type and to each event's product (403), then
 * routing. A batch is checked whole before anything is stored.
 */
@Injectable()
export class EventPublishService {
  constructor(
    private readonly router: EventRouterService,
    private readonly schemas: EventSchemasService,
    private readonly policy: PolicyService,
  ) {}

  async publish(body: unknown, requester: VerifiedRequester): Promise<EventAccepted | EventBatchAccepted> {
    const batch = Array.isArray(body);
    const raws: unknown[] = batch ? body : [body];
    if (batch && raws.length === 0) throw invalidEvents([{ field: 'body', messages: ['a batch needs at least one event'] }]);
    if (raws.length > EVENT_LIMITS.batch) throw batchTooLarge(raws.length);
    const now = new Date();
    const errors: FieldError[] = [];
    const events: AcceptedEvent[] = [];
    raws.forEach((raw, i) => {
      const event = this.read(raw, batch ? `[${i}].` : '', errors, now);
      if (event) events.push(event);
    });
    if (errors.length > 0) throw invalidEvents(errors);
    this.mayPublish(events, requester, batch ? (i) => `[${i}].` : () => '');
    // One group item: a batch's events commit together, evaluated in its order, or none does (the request fails whole).
    const answers = await this.router.routeAll(events, requester);
    return batch ? { events: answers } : answers[0];
  }

  /**
   * The pillars' batches (POST /events/batch, their outboxes' event hops): each event answered as `POST /events` would
   * answer it alone (202, or the 422 / 403 that names its problem), so one bad event never fails its neighbours; the
   * accepted ones join one commit like concurrent requests, each its own group item (a group that fails is retried
   * item by item, so neither does an event the database refuses).
   */
  publishEach(items: readonly EventBatchItem[], requester: VerifiedRequester): Promise<EventBatchOutcome<EventAccepted>[]> {
    const now = new Date();
    const readOne = (raw: unknown): AcceptedEvent => {
      const errors: FieldError[] = [];
      const event = this.read(raw, '', errors, now);
      if (!event || errors.length > 0) throw invalidEvents(errors);
      this.mayPublish([event], requester, () => '');
      return event;
    };
    return answerEachItemWith(items, readOne, 'POST /events', async (event) => {
      const body = await this.router.route(event, requester);
      return { status: HttpStatus.ACCEPTED, body, ...(body.replayed ? { replayed: true } : {}) };
    });
  }

  /** The event's shape and its type's schema; each problem is added to `errors` with its field under `at`. */
  private read(raw: unknown, at: string, errors: FieldError[], now: Date): AcceptedEvent | undefined {
    const event = readEvent(raw, at, errors, now);
    if (!event) return undefined;
    for (const problem of this.schemas.validate(event.type, event.data)) errors.push({ ...problem, field: `${at}${problem.field}` });
    return event;
  }

  /**
   * 403 naming every type among `events` the requester may not publish (`publish_forbidden`); then 403 naming each
   * event whose product (`data.product`, productOf) is outside the requester's products, as POST /tasks and
   * POST /workflows/:name/runs refuse one (`forbidden`, `errors` naming `data.product`, `[i].data.product` in an
   * array). A credential publishes only for its products (T9): the runs an event starts act on its product, and a
   * replay of it would hand them back. An event without a product, and a credential for every product, are not held.
   */
  private mayPublish(events: readonly AcceptedEvent[], requester: VerifiedRequester, at: (i: number) => string): void {
    const forbidden = [...new Set(events.map((e) => e.type).filter((type) => !this.policy.mayPublish(requester.id, type)))];
    if (forbidden.length > 0) {
      throw new DomainException(HttpStatus.FORBIDDEN, EventErrorCode.PublishForbidden, `requester ${requester.id} may not publish ${forbidden.join(', ')}`);
    }
    const allowed = productFilter(requester);
    if (!allowed) return;
    const refused = events.flatMap((event, i) => {
      const product = productOf(event.data);
      return product !== undefined && !allowed.includes(product) ? [{ field: `${at(i)}data.product`, product }] : [];
    });
    if (refused.length > 0) throw new TaskProductForbiddenException(requester.id, refused);
  }
}
