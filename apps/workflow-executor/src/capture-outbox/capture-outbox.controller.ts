import { Controller, Get, Query } from '@nestjs/common';
import type { CapturedMessageListResponse } from '@pancha/contracts';
import { productFilter, RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import { QueryParameters } from '@pancha/service-kit';
import { CaptureOutboxService } from './capture-outbox.service';
import { ListCapturedMessagesQuery } from './dto/list-captured-messages.query';

/** GET /api/outbox's query parameters: every field of ListCapturedMessagesQuery (as GET /api/tasks's). */
const LIST_CAPTURED_FIELDS: Record<keyof ListCapturedMessagesQuery, true> = { channel: true, trace_id: true, limit: true };
const LIST_CAPTURED_PARAMETERS: readonly string[] = Object.keys(LIST_CAPTURED_FIELDS);

/** What the email and whatsapp adapters kept instead of sending, because no provider was configured. */
@Controller('api/outbox')
export class CaptureOutboxController {
  constructor(private readonly captured: CaptureOutboxService) {}

  /**
   * Only messages of the caller's products (its token's `products` claim narrows the policy's). A query parameter it
   * does not define is a 400 naming it (`?chanel=email` would have answered every channel), a repeated one a 422.
   */
  @Get()
  @RequireOperation('read')
  @QueryParameters(LIST_CAPTURED_PARAMETERS)
  async list(@Query() query: ListCapturedMessagesQuery, @Requester() requester: VerifiedRequester): Promise<CapturedMessageListResponse> {
    return {
      messages: await this.captured.list({ channel: query.channel, traceId: query.trace_id, limit: query.limit, products: productFilter(requester) }),
    };
  }
}
