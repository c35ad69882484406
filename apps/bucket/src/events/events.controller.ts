import { Body, Controller, Get, HttpCode, HttpStatus, Post, Query, Res } from '@nestjs/common';
import { BUCKET_WRITE_EVENTS_ROUTES, EVENTS_QUERY_PARAMETERS, EventsQueryDto, READ_CONTEXT_QUERY_PARAMETERS, ReadContextQueryDto, WriteEventRequestDto } from '@pancha/contracts';
import type {
  BucketStats,
  BucketWriteChannel,
  EventBatchItem,
  EventBatchReply,
  EventsPage,
  ReadContextResult,
  WriteEventData,
  WriteEventResult,
} from '@pancha/contracts';
import { Requester, RequireOperation } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { BatchEvents, keepAsSent, QueryParameters } from '@pancha/service-kit';
import type { Response } from 'express';
import { EventsService } from './events.service';

/** Names callers send by mistake for a filter of GET /core/events. */
const EVENTS_HINTS: Readonly<Record<string, string>> = {
  traceid: 'the trace filter is trace_id',
  type: 'Bucket filters by trace_id, product and user_id (event types are counted by GET /core/stats)',
  cursor: 'the page after the last one is after_seq (its next_after_seq)',
};

// event_data is the record, stored as sent: members named __proto__, constructor or prototype too (the validated
// DTO holds it as sent like the routes' raw `@Body('event_data')`, over HTTP, JetStream and in batches).
keepAsSent(WriteEventRequestDto, 'event_data');

@Controller()
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Post('core/write-event')
  @RequireOperation('write')
  writeCore(
    @Body() body: WriteEventRequestDto,
    // The same event_data unvalidated: an object type is passed through by the validation pipe untouched.
    @Body('event_data') eventData: WriteEventData,
    @Requester() requester: VerifiedRequester,
    @Res({ passthrough: true }) res: Response,
  ): Promise<WriteEventResult> {
    return this.write('core', body, eventData, requester, res);
  }

  @Post('workflow/write-event')
  @RequireOperation('write')
  writeWorkflow(
    @Body() body: WriteEventRequestDto,
    @Body('event_data') eventData: WriteEventData,
    @Requester() requester: VerifiedRequester,
    @Res({ passthrough: true }) res: Response,
  ): Promise<WriteEventResult> {
    return this.write('workflow', body, eventData, requester, res);
  }

  /**
   * The batch twins of the write routes (the outbox relays of Core and the executor send their audit events
   * here): the same token, `write` operation, requester and channel checks, product scope and event_id dedup,
   * per event; one append transaction; 200 with one outcome (status + body) per event, in order. An item's body
   * that PostgreSQL cannot store or nests too deep is that item's 422 (EventsService).
   */
  @Post(BUCKET_WRITE_EVENTS_ROUTES.core)
  @RequireOperation('write')
  @HttpCode(HttpStatus.OK)
  writeCoreBatch(
    @BatchEvents() events: EventBatchItem[],
    @Requester() requester: VerifiedRequester,
  ): Promise<EventBatchReply<WriteEventResult>> {
    return this.writeBatch('core', events, requester);
  }

  @Post(BUCKET_WRITE_EVENTS_ROUTES.workflow)
  @RequireOperation('write')
  @HttpCode(HttpStatus.OK)
  writeWorkflowBatch(
    @BatchEvents() events: EventBatchItem[],
    @Requester() requester: VerifiedRequester,
  ): Promise<EventBatchReply<WriteEventResult>> {
    return this.writeBatch('workflow', events, requester);
  }

  /**
   * The reads take only the query parameters they define: any other name (`?traceid=`, `?trace_id[a]=`) is a 400 naming
   * it and a repeated one (`?limit=1&limit=2`) a 422 "is given more than once" (@QueryParameters), never an answer
   * that ignored it and looked filtered.
   */
  @Get('core/events')
  @RequireOperation('read')
  @QueryParameters(EVENTS_QUERY_PARAMETERS, EVENTS_HINTS)
  list(@Query() query: EventsQueryDto, @Requester() requester: VerifiedRequester): Promise<EventsPage> {
    return this.events.events(query, requester);
  }

  /** Counts of the entries the caller's products allow; it takes no query parameter (a `?product=` is a 400). */
  @Get('core/stats')
  @RequireOperation('read')
  @QueryParameters([])
  stats(@Requester() requester: VerifiedRequester): Promise<BucketStats> {
    return this.events.stats(requester);
  }

  @Get('core/read-context')
  @RequireOperation('read')
  @QueryParameters(READ_CONTEXT_QUERY_PARAMETERS)
  readContext(@Query() query: ReadContextQueryDto, @Requester() requester: VerifiedRequester): Promise<ReadContextResult> {
    return this.events.readContext(query.agent_id, query.limit, requester);
  }

  private async writeBatch(channel: BucketWriteChannel, events: EventBatchItem[], requester: VerifiedRequester): Promise<EventBatchReply<WriteEventResult>> {
    return { results: await this.events.writeBatch(channel, events, requester) };
  }

  private async write(
    channel: BucketWriteChannel,
    body: WriteEventRequestDto,
    eventData: WriteEventData,
    requester: VerifiedRequester,
    res: Response,
  ): Promise<WriteEventResult> {
    const result = await this.events.write(channel, body, eventData, requester);
    // 201 for a new entry; 200 when the same event was already recorded (the original entry).
    res.status(result.replayed ? HttpStatus.OK : HttpStatus.CREATED);
    return result;
  }
}
