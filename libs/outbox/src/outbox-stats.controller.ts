import { Controller, Get } from '@nestjs/common';
import { RequireCredential, RequireOperation } from '@pancha/governance';
import type { OutboxStats } from './outbox-stats';
import { OutboxService } from './outbox.service';

/**
 * Delivery accounting for operators, the bench and the stack e2e. Counts only, but operator data: a verified
 * token whose requester may `read` this service (Core: prana; the executor: bhiv_core), never anonymous.
 */
@Controller('outbox')
export class OutboxStatsController {
  constructor(private readonly outbox: OutboxService) {}

  @Get('stats')
  @RequireOperation('read')
  @RequireCredential()
  stats(): Promise<OutboxStats> {
    return this.outbox.stats();
  }
}
