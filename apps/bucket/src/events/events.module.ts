import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module';
import { EventsConsumerController } from './events-consumer.controller';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

/** The write routes (core and workflow channels), their JetStream twins, and the reader routes under /core. */
@Module({
  imports: [LedgerModule],
  controllers: [EventsController, EventsConsumerController],
  providers: [EventsService],
})
export class EventsModule {}
