import { Controller, Get, Query } from '@nestjs/common';
import type { CapturedMessageListResponse } from '@pancha/contracts';
import { productFilter, RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import { CaptureOutboxService } from './capture-outbox.service';
import { ListCapturedMessagesQuery } from './dto/list-captured-messages.query';

/** What the email and whatsapp adapters kept instead of sending, because no provider was configured. */
@Controller('api/outbox')
export class CaptureOutboxController {
  constructor(private readonly captured: CaptureOutboxService) {}

  /** Only messages of the caller's products (its token's `products` claim narrows the policy's). */
  @Get()
  @RequireOperation('read')
  async list(@Query() query: ListCapturedMessagesQuery, @Requester() requester: VerifiedRequester): Promise<CapturedMessageListResponse> {
    return {
      messages: await this.captured.list({ channel: query.channel, traceId: query.trace_id, limit: query.limit, products: productFilter(requester) }),
    };
  }
}
