import { Controller, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { type PluginDetailView, PluginErrorCode, type PluginListResponse, type PluginReloadReport } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { DomainException, QueryParameters } from '@pancha/service-kit';
import { PluginRegistry } from './plugin-registry.service';

/**
 * Every action the engine can run: built-ins and plugins, with versions, schemas, secrets and load failures. Neither
 * read takes a query parameter: any is a 400 naming it.
 */
@Controller('api/plugins')
export class PluginsController {
  constructor(private readonly plugins: PluginRegistry) {}

  @Get()
  @RequireOperation('read')
  @QueryParameters([])
  list(): PluginListResponse {
    return { plugins: this.plugins.list() };
  }

  /** Loads changed plugins again (new ones, new versions; removed ones go), then the workflows when actions changed. */
  @Post('reload')
  @HttpCode(HttpStatus.OK)
  @RequireOperation('admin')
  reload(): Promise<PluginReloadReport> {
    return this.plugins.reloadWithWorkflows('request');
  }

  @Get(':name')
  @RequireOperation('read')
  @QueryParameters([])
  show(@Param('name') name: string): PluginDetailView {
    const detail = this.plugins.detail(name);
    if (!detail) throw new DomainException(404, PluginErrorCode.UnknownPlugin, `no plugin named ${name}`);
    return detail;
  }
}
