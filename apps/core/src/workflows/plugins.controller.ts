import { Controller, Get, Param } from '@nestjs/common';
import type { PluginDetailView, PluginListResponse } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { QueryParameters } from '@pancha/service-kit';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { WorkflowRunsService } from './workflow-runs.service';

/**
 * The executor's action plugins (built-in, directory, package) with their load status, on Core's public port. Neither
 * read takes a query parameter: any is a 400 naming it (`?status=failed` filters nothing).
 */
@Controller('plugins')
export class PluginsController {
  constructor(
    private readonly executor: WorkflowExecutorClient,
    private readonly runs: WorkflowRunsService,
  ) {}

  @Get()
  @RequireOperation('read')
  @QueryParameters([])
  async list(): Promise<PluginListResponse> {
    try {
      return await this.executor.plugins();
    } catch (error) {
      throw this.runs.translate(error);
    }
  }

  @Get(':name')
  @RequireOperation('read')
  @QueryParameters([])
  async show(@Param('name') name: string): Promise<PluginDetailView> {
    try {
      return await this.executor.plugin(name);
    } catch (error) {
      throw this.runs.translate(error);
    }
  }
}
