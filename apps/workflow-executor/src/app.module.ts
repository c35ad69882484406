import { type DynamicModule, Module } from '@nestjs/common';
import { EventTopic, RequesterId } from '@pancha/contracts';
import { EventHopHandler } from '@pancha/nats-transport';
import { OutboxModule } from '@pancha/outbox';
import { ServiceKitModule } from '@pancha/service-kit';
import { CaptureOutboxModule } from './capture-outbox/capture-outbox.module';
import { WorkflowExecutorConfig } from './config/env.validation';
import { ExecutorConfigModule } from './config/executor-config.module';
import { EXECUTOR_ENTITIES, EXECUTOR_MIGRATIONS } from './database';
import { executorEventSink } from './events/executor-event-sink';
import { ExecutionModule } from './execution/execution.module';
import { TasksModule } from './tasks/tasks.module';
import { WorkflowsModule } from './workflows/workflows.module';

@Module({})
export class AppModule {
  static forRoot(config: WorkflowExecutorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'workflow-executor',
          self: RequesterId.WorkflowExecutor,
          config,
          database: { entities: EXECUTOR_ENTITIES, migrations: EXECUTOR_MIGRATIONS },
        }),
        ExecutorConfigModule.forRoot(config),
        // Registered even with both event flags off, so rows enqueued before a restart still get delivered.
        OutboxModule.forRoot({
          config,
          handlers: [EventHopHandler(EventTopic.BucketWorkflowEvent, { ordersBatch: true }), EventHopHandler(EventTopic.KarmaLifeEvent), EventHopHandler(EventTopic.CoreWorkflowEvent)],
          imports: [executorEventSink(config)],
        }),
        ExecutionModule,
        TasksModule,
        CaptureOutboxModule,
        WorkflowsModule,
      ],
    };
  }
}
