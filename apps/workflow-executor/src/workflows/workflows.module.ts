import { Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { ActionInvoker } from './engine/action-invoker.service';
import { EngineClock, EngineRandom, MathRandom, SystemClock } from './engine/engine-clock';
import { HttpAction } from './engine/http.action';
import { RunEvents } from './engine/run-events';
import { RunStore } from './engine/run-store';
import { RunWorker } from './engine/run-worker.service';
import { WorkflowRegistry } from './registry/workflow-registry.service';
import { WorkflowSecrets } from './registry/workflow-secrets';
import { WorkflowsController } from './registry/workflows.controller';
import { PluginRegistry } from './plugins/plugin-registry.service';
import { PluginsController } from './plugins/plugins.controller';
import { RunsController } from './runs/runs.controller';
import { RunsService } from './runs/runs.service';
import { WorkflowStatsService } from './stats/workflow-stats.service';

/** Versioned workflow definitions (the registry), the durable step engine, and the governed runs API. */
@Module({
  imports: [AdaptersModule],
  controllers: [RunsController, WorkflowsController, PluginsController],
  providers: [
    { provide: EngineClock, useClass: SystemClock },
    { provide: EngineRandom, useClass: MathRandom },
    ActionInvoker,
    HttpAction,
    PluginRegistry,
    RunEvents,
    RunStore,
    RunWorker,
    RunsService,
    WorkflowRegistry,
    WorkflowStatsService,
    { provide: WorkflowSecrets, useFactory: (config: WorkflowExecutorConfig) => new WorkflowSecrets(config), inject: [WorkflowExecutorConfig] },
  ],
  exports: [RunWorker, WorkflowRegistry, RunsService, ActionInvoker, PluginRegistry],
})
export class WorkflowsModule {}
