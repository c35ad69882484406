import { Body, Controller, HttpCode, HttpStatus, Inject, Post, Res } from '@nestjs/common';
import { AppealDataDto, KarmaEventReply, KarmaEventRequestDto, LifeEventDataDto } from '@pancha/contracts';
import { RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import { keepAsSent } from '@pancha/service-kit';
import type { Response } from 'express';
import { EventsService } from './events.service';

// An event's data, and the context and metadata objects in it, are recorded as sent, whatever their members are named
// (__proto__, constructor, prototype too): over HTTP, JetStream and in batches (parseKarmaEvent reads data as sent).
keepAsSent(KarmaEventRequestDto, 'data');
keepAsSent(LifeEventDataDto, 'metadata', 'context');
keepAsSent(AppealDataDto, 'context');

@Controller('v1/event')
export class EventsController {
  constructor(@Inject(EventsService) private readonly events: EventsService) {}

  /** The unified gateway: life_event, atonement, appeal, death_event, stats_request. A replay returns the first reply. */
  @Post()
  @HttpCode(HttpStatus.OK)
  @RequireOperation('write')
  async submit(
    @Body() body: KarmaEventRequestDto,
    @Requester() requester: VerifiedRequester,
    @Res({ passthrough: true }) res: Response,
  ): Promise<KarmaEventReply> {
    const { reply, replayed } = await this.events.submit(body, requester);
    if (replayed) res.setHeader('idempotent-replay', 'true');
    return reply;
  }
}
