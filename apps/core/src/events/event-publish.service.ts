import { HttpStatus, Injectable } from '@nestjs/common';
import { EVENT_LIMITS, type EventAccepted, type EventBatchAccepted, type FieldError } from '@pancha/contracts';
import { PolicyService, type VerifiedRequester } from '@pancha/governance';
import { DomainException } from '@pancha/service-kit';
import { batchTooLarge, EventErrorCode, invalidEvents, readEvent } from './event-intake';
import { type AcceptedEvent, EventRouterService } from './event-router.service';
import { EventSchemasService } from './event-schemas.service';

/**
 * One way in for events, whatever carried them (POST /events, or the pillars' JetStream hop): the shape and the
 * type's schema (422 naming each field), the publisher's right to each type (403), then routing. A batch is checked whole before anything is stored.
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
      const at = batch ? `[${i}].` : '';
      const event = readEvent(raw, at, errors, now);
      if (!event) return;
      for (const problem of this.schemas.validate(event.type, event.data)) errors.push({ ...problem, field: `${at}${problem.field}` });
      events.push(event);
    });
    if (errors.length > 0) throw invalidEvents(errors);
    const forbidden = [...new Set(events.map((e) => e.type).filter((type) => !this.policy.mayPublish(requester.id, type)))];
    if (forbidden.length > 0) {
      throw new DomainException(HttpStatus.FORBIDDEN, EventErrorCode.PublishForbidden, `requester ${requester.id} may not publish ${forbidden.join(', ')}`);
    }
    // Side by side: a batch's events join one commit, evaluated in the batch's order.
    const answers = await Promise.all(events.map((event) => this.router.route(event, requester)));
    return batch ? { events: answers } : answers[0];
  }
}
