import { Controller, Get, SetMetadata } from '@nestjs/common';
import type { OutboxStats } from './outbox-stats';
import { OutboxService } from './outbox.service';

/**
 * Delivery accounting for operators and the stack e2e. Counts only, no payloads, so it is public;
 * 'isPublic' is the metadata key the governance guard honours (no import of governance from a util lib).
 */
@Controller('outbox')
export class OutboxStatsController {
  constructor(private readonly outbox: OutboxService) {}

  @Get('stats')
  @SetMetadata('isPublic', true)
  stats(): Promise<OutboxStats> {
    return this.outbox.stats();
  }
}
