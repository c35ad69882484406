import { Controller, Get, Query } from '@nestjs/common';
import type { CapturedMessageListResponse } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { CaptureOutboxService } from './capture-outbox.service';
import { ListCapturedMessagesQuery } from './dto/list-captured-messages.query';

/** What the email and whatsapp adapters kept instead of sending, because no provider was configured. */
@Controller('api/outbox')
export class CaptureOutboxController {
  constructor(private readonly captured: CaptureOutboxService) {}

  @Get()
  @RequireOperation('read')
  async list(@Query() query: ListCapturedMessagesQuery): Promise<CapturedMessageListResponse> {
    return { messages: await this.captured.list({ channel: query.channel, traceId: query.trace_id, limit: query.limit }) };
  }
}
