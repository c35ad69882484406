import { Controller, Get } from '@nestjs/common';
import { Public } from '@pancha/governance';
import type { OutboxStats } from './outbox-stats';
import { OutboxService } from './outbox.service';

/** Delivery accounting for operators, the bench and the stack e2e. Counts only, no payloads, so it is public. */
@Controller('outbox')
export class OutboxStatsController {
  constructor(private readonly outbox: OutboxService) {}

  @Get('stats')
  @Public()
  stats(): Promise<OutboxStats> {
    return this.outbox.stats();
  }
}
