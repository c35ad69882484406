import { Module } from '@nestjs/common';
import { WorkflowsModule } from '../workflows/workflows.module';
import { DeferredStartsService } from './deferred-starts.service';
import { EventPublishService } from './event-publish.service';
import { EventQueriesService } from './event-queries.service';
import { EventRouterService } from './event-router.service';
import { EventSchemasService } from './event-schemas.service';
import { EventsConsumerController } from './events-consumer.controller';
import { EventsBatchController } from './events-batch.controller';
import { EventsController } from './events.controller';

/** The event router: POST /events, the decision trail and stats, and the deferred starts it makes later. */
@Module({
  imports: [WorkflowsModule],
  controllers: [EventsController, EventsBatchController, EventsConsumerController],
  providers: [EventSchemasService, EventRouterService, EventPublishService, EventQueriesService, DeferredStartsService],
  exports: [EventRouterService],
})
export class EventsModule {}
