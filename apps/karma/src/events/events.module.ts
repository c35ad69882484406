import { Module } from '@nestjs/common';
import { EventsConsumerController } from './events-consumer.controller';
import { EventsBatchController } from './events-batch.controller';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

@Module({ controllers: [EventsController, EventsBatchController, EventsConsumerController], providers: [EventsService] })
export class EventsModule {}
