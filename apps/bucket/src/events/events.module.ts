import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

/** The write routes (core and workflow channels) and the reader routes under /core. */
@Module({
  imports: [LedgerModule],
  controllers: [EventsController],
  providers: [EventsService],
})
export class EventsModule {}
