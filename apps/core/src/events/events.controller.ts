import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { EVENT_LIMITS, type EventAccepted, type EventBatchAccepted, type EventListResponse, type EventStats, type EventView, type FieldError } from '@pancha/contracts';
import { PolicyService, Requester, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { DomainException } from '@pancha/service-kit';
import { EventSchemasService } from './event-schemas.service';
import { type AcceptedEvent, EventRouterService } from './event-router.service';
import { batchTooLarge, EventErrorCode, invalidEvents, readEvent } from './event-intake';
import { type EventListQuery, EventQueriesService } from './event-queries.service';

/** The event router on Core's public port (SPEC §5): publish events, and see what each one did and why. */
@Controller('events')
export class EventsController {
  constructor(
    private readonly router: EventRouterService,
    private readonly schemas: EventSchemasService,
    private readonly queries: EventQueriesService,
    private readonly policy: PolicyService,
  ) {}

  /**
   * 202 once each event is recorded with its decisions and its run starts are stored (never waiting on a run).
   * A batch (an array) is checked whole first: one bad or forbidden event refuses the batch and nothing is stored.
   */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('publish')
  async publish(@Body() body: unknown, @Requester() requester: VerifiedRequester): Promise<EventAccepted | EventBatchAccepted> {
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
    const answers: EventAccepted[] = [];
    for (const event of events) answers.push(await this.router.route(event, requester));
    return batch ? { events: answers } : answers[0];
  }

  @Get('stats')
  @RequireOperation('read')
  stats(@Query('since') since?: string): Promise<EventStats> {
    return this.queries.stats(since);
  }

  @Get(':event_id')
  @RequireOperation('read')
  view(@Param('event_id') eventId: string): Promise<EventView> {
    return this.queries.view(eventId);
  }

  @Get()
  @RequireOperation('read')
  list(@Query() query: EventListQuery): Promise<EventListResponse> {
    return this.queries.list(query);
  }
}
