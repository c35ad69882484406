import { Module } from '@nestjs/common';
import { PluginsController } from './plugins.controller';
import { RunsController } from './runs.controller';
import { WorkflowCatalogService } from './workflow-catalog.service';
import { WorkflowRunsService } from './workflow-runs.service';
import { WorkflowsController } from './workflows.controller';

/** Workflow runs and the registry on Core's public port; the mirror of the executor's catalog. */
@Module({
  controllers: [WorkflowsController, RunsController, PluginsController],
  providers: [WorkflowCatalogService, WorkflowRunsService],
  exports: [WorkflowCatalogService, WorkflowRunsService],
})
export class WorkflowsModule {}
