import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { type EventAccepted, type EventBatchAccepted, EventErrorCode, type EventListResponse, type EventStats, type EventView } from '@pancha/contracts';
import { Requester, RequireCredential, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { refuseUnknownQueryParameters, StorableJsonRefusedAs } from '@pancha/service-kit';
import { EventPublishService } from './event-publish.service';
import { EVENT_LIST_PARAMETERS, EVENT_STATS_PARAMETERS, EventQueriesService } from './event-queries.service';

/** GET /workflows/stats takes `window`; this route the window's start (`pancha events stats --window 24h` sends it). */
const STATS_HINTS = { window: "it takes since (the window's start, an RFC 3339 time such as 2026-12-01T09:00:00Z), not window" };

/**
 * The event router on Core's public port (SPEC §5): publish events, and see what each one did and why. A read
 * route answers a query parameter it does not define with a 400 naming it: ignored, a typo in a filter
 * (`?stauts=`, `?typ=`) would have answered the unfiltered list as if filtered.
 */
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
  // Text PostgreSQL cannot store, or nesting too deep, is an invalid event like any other (not validation_failed).
  @StorableJsonRefusedAs(EventErrorCode.EventInvalid, 'event')
  publish(@Body() body: unknown, @Requester() requester: VerifiedRequester): Promise<EventAccepted | EventBatchAccepted> {
    return this.publisher.publish(body, requester);
  }

  @Get('stats')
  @RequireOperation('read')
  // Events carry user data: a verified token is needed even though anonymous may `read` on core (its tasks).
  @RequireCredential()
  stats(@Query() query: Record<string, unknown>, @Requester() requester: VerifiedRequester): Promise<EventStats> {
    refuseUnknownQueryParameters(query, EVENT_STATS_PARAMETERS, 'GET /events/stats', STATS_HINTS);
    return this.queries.stats(query.since, requester);
  }

  @Get(':event_id')
  @RequireOperation('read')
  // Events carry user data: a verified token is needed even though anonymous may `read` on core (its tasks).
  @RequireCredential()
  view(@Param('event_id') eventId: string, @Query() query: Record<string, unknown>, @Requester() requester: VerifiedRequester): Promise<EventView> {
    refuseUnknownQueryParameters(query, [], 'GET /events/:event_id');
    return this.queries.view(eventId, requester);
  }

  @Get()
  @RequireOperation('read')
  // Events carry user data: a verified token is needed even though anonymous may `read` on core (its tasks).
  @RequireCredential()
  list(@Query() query: Record<string, unknown>, @Requester() requester: VerifiedRequester): Promise<EventListResponse> {
    refuseUnknownQueryParameters(query, EVENT_LIST_PARAMETERS, 'GET /events');
    return this.queries.list(query, requester);
  }
}
