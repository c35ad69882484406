import { Module } from '@nestjs/common';
import { WorkflowsModule } from '../workflows/workflows.module';
import { DeferredStartsService } from './deferred-starts.service';
import { EventQueriesService } from './event-queries.service';
import { EventRouterService } from './event-router.service';
import { EventSchemasService } from './event-schemas.service';
import { EventsController } from './events.controller';

/** The event router: POST /events, the decision trail and stats, and the deferred starts it makes later. */
@Module({
  imports: [WorkflowsModule],
  controllers: [EventsController],
  providers: [EventSchemasService, EventRouterService, EventQueriesService, DeferredStartsService],
  exports: [EventRouterService],
})
export class EventsModule {}
