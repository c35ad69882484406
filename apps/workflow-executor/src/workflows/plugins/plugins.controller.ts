import { Controller, Get, Param } from '@nestjs/common';
import { type PluginDetailView, PluginErrorCode, type PluginListResponse } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { DomainException } from '@pancha/service-kit';
import { PluginRegistry } from './plugin-registry.service';

/** Every action the engine can run: built-ins and plugins, with versions, schemas, secrets and load failures. */
@Controller('api/plugins')
export class PluginsController {
  constructor(private readonly plugins: PluginRegistry) {}

  @Get()
  @RequireOperation('read')
  list(): PluginListResponse {
    return { plugins: this.plugins.list() };
  }

  @Get(':name')
  @RequireOperation('read')
  show(@Param('name') name: string): PluginDetailView {
    const detail = this.plugins.detail(name);
    if (!detail) throw new DomainException(404, PluginErrorCode.UnknownPlugin, `no plugin named ${name}`);
    return detail;
  }
}
