import { type DynamicModule, Module } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { JetStreamConsumerModule } from '@pancha/nats-transport';
import { OutboxModule, resolveOutboxOptions } from '@pancha/outbox';
import { ServiceKitModule } from '@pancha/service-kit';
import { AuditWitnessModule } from './audit-witness/audit-witness.module';
import { ClientsModule } from './clients/clients.module';
import { CoreConfigModule } from './config/core-config.module';
import type { CoreConfig } from './config/env.validation';
import { CORE_ENTITIES, CORE_MIGRATIONS } from './database';
import { BucketCoreEventHandler } from './tasks/dispatch/bucket-core-event.handler';
import { EventsModule } from './events/events.module';
import { coreEventSink } from './tasks/dispatch/core-event-sink';
import { WorkflowDispatchHandler } from './tasks/dispatch/workflow-dispatch.handler';
import { TasksModule } from './tasks/tasks.module';
import { RunCancelHandler } from './workflows/run-cancel.handler';
import { RunStartHandler } from './workflows/run-start.handler';
import { WorkflowsModule } from './workflows/workflows.module';
// Registers the event router's counters (at 0) so they are on /metrics from the start.
import './metrics/router-metrics';

@Module({})
export class AppModule {
  static forRoot(config: CoreConfig): DynamicModule {
    assertTimeoutsFit(config);
    return {
      module: AppModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'core',
          self: RequesterId.Core,
          config,
          database: { entities: CORE_ENTITIES, migrations: CORE_MIGRATIONS },
        }),
        CoreConfigModule.forRoot(config),
        ClientsModule.forRoot(config),
        OutboxModule.forRoot({
          config,
          handlers: [BucketCoreEventHandler, WorkflowDispatchHandler, RunStartHandler, RunCancelHandler],
          imports: [coreEventSink(config)],
        }),
        // The pillars' events reach the router over JetStream when NATS_URL is set (the `publish` grant, like POST /events).
        JetStreamConsumerModule.forRoot({ service: 'core', config, server: { operation: 'publish' } }),
        WorkflowsModule,
        EventsModule,
        TasksModule.forRoot(config),
        AuditWitnessModule,
      ],
    };
  }
}

/**
 * The relay abandons a delivery after OUTBOX_DELIVERY_TIMEOUT_MS without the handler knowing; an executor
 * call allowed to run longer would then never get to record a dead dispatch on its task.
 */
function assertTimeoutsFit(config: CoreConfig): void {
  const deliveryTimeoutMs = resolveOutboxOptions({}, config).deliveryTimeoutMs;
  if (config.WORKFLOW_TIMEOUT * 1000 >= deliveryTimeoutMs) {
    throw new Error(
      `Invalid configuration: WORKFLOW_TIMEOUT (${config.WORKFLOW_TIMEOUT} s) must be shorter than ` +
        `OUTBOX_DELIVERY_TIMEOUT_MS (${deliveryTimeoutMs} ms)`,
    );
  }
}
