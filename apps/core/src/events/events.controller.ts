import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import type { EventAccepted, EventBatchAccepted, EventListResponse, EventStats, EventView } from '@pancha/contracts';
import { Requester, RequireCredential, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { EventPublishService } from './event-publish.service';
import { type EventListQuery, EventQueriesService } from './event-queries.service';

/** The event router on Core's public port (SPEC §5): publish events, and see what each one did and why. */
@Controller('events')
export class EventsController {
  constructor(
    private readonly publisher: EventPublishService,
    private readonly queries: EventQueriesService,
  ) {}

  /** 202 once each event is recorded with its decisions and its run starts are stored (never waiting on a run). */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('publish')
  publish(@Body() body: unknown, @Requester() requester: VerifiedRequester): Promise<EventAccepted | EventBatchAccepted> {
    return this.publisher.publish(body, requester);
  }

  @Get('stats')
  @RequireOperation('read')
  // Events carry user data: a verified token is needed even though anonymous may `read` on core (its tasks).
  @RequireCredential()
  stats(@Query('since') since: string | undefined, @Requester() requester: VerifiedRequester): Promise<EventStats> {
    return this.queries.stats(since, requester);
  }

  @Get(':event_id')
  @RequireOperation('read')
  // Events carry user data: a verified token is needed even though anonymous may `read` on core (its tasks).
  @RequireCredential()
  view(@Param('event_id') eventId: string, @Requester() requester: VerifiedRequester): Promise<EventView> {
    return this.queries.view(eventId, requester);
  }

  @Get()
  @RequireOperation('read')
  // Events carry user data: a verified token is needed even though anonymous may `read` on core (its tasks).
  @RequireCredential()
  list(@Query() query: EventListQuery, @Requester() requester: VerifiedRequester): Promise<EventListResponse> {
    return this.queries.list(query, requester);
  }
}
