import { Module } from '@nestjs/common';
import { EventsConsumerController } from './events-consumer.controller';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

@Module({ controllers: [EventsController, EventsConsumerController], providers: [EventsService] })
export class EventsModule {}
