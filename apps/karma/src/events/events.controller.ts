import { Body, Controller, HttpCode, HttpStatus, Inject, Post, Res } from '@nestjs/common';
import { KarmaEventReply, KarmaEventRequestDto } from '@pancha/contracts';
import { RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import type { Response } from 'express';
import { EventsService } from './events.service';

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
