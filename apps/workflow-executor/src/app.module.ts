import { type DynamicModule, Module } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { OutboxModule } from '@pancha/outbox';
import { ServiceKitModule } from '@pancha/service-kit';
import { CaptureOutboxModule } from './capture-outbox/capture-outbox.module';
import { WorkflowExecutorConfig } from './config/env.validation';
import { ExecutorConfigModule } from './config/executor-config.module';
import { EXECUTOR_ENTITIES, EXECUTOR_MIGRATIONS } from './database';
import { BucketWorkflowEventHandler } from './events/bucket-workflow-event.handler';
import { ExecutorEventBatchesModule } from './events/executor-event-batches';
import { ExecutorEventSinkModule } from './events/executor-event-sink';
import { KarmaLifeEventHandler } from './events/karma-life-event.handler';
import { CoreWorkflowEventHandler } from './events/core-workflow-event.handler';
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
        OutboxModule.forRoot({ config, handlers: [BucketWorkflowEventHandler, KarmaLifeEventHandler, CoreWorkflowEventHandler], imports: [ExecutorEventSinkModule, ExecutorEventBatchesModule] }),
        ExecutionModule,
        TasksModule,
        CaptureOutboxModule,
        WorkflowsModule,
      ],
    };
  }
}
