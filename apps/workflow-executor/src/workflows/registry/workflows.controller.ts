import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import {
  ExecutorSetWorkflowEnabledDto,
  type PluginReloadReport,
  type WorkflowCatalog,
  WorkflowErrorCode,
  type WorkflowListResponse,
  type WorkflowStatsResponse,
  type WorkflowSummaryView,
  WORKFLOW_STATS_QUERY_PARAMETERS,
} from '@pancha/contracts';
import { actingFor, productFilter, Requester, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { QueryParameters } from '@pancha/service-kit';
import { compareVersions } from '@pancha/workflow-manifest';
import type { Response } from 'express';
import { PluginRegistry } from '../plugins/plugin-registry.service';
import { RunsService } from '../runs/runs.service';
import { WorkflowStatsService } from '../stats/workflow-stats.service';
import { WorkflowException } from '../workflow.exception';
import { type LoadReport, WorkflowRegistry } from './workflow-registry.service';

/**
 * The registry: definitions with their versions, enable/disable, reload, and the catalog Core mirrors. A read route
 * answers a query parameter it does not define with a 400 naming it and a repeated one with a 422 (@QueryParameters).
 */
@Controller('api/workflows')
export class WorkflowsController {
  constructor(
    private readonly registry: WorkflowRegistry,
    private readonly runs: RunsService,
    private readonly stats: WorkflowStatsService,
    private readonly plugins: PluginRegistry,
  ) {}

  /** `live_runs` per version counts the caller's products' runs only, as the runs list and stats do. */
  @Get()
  @RequireOperation('read')
  @QueryParameters([])
  async list(@Requester() requester: VerifiedRequester): Promise<WorkflowListResponse> {
    const live = await this.runs.liveRunCounts(productFilter(requester));
    return { workflows: this.registry.names().map((name) => this.summary(name, live)), revision: this.registry.revision };
  }

  /** Everything Core needs to accept runs and route events without asking; 304 when nothing changed. */
  @Get('catalog')
  @RequireOperation('read')
  @QueryParameters([])
  async catalog(@Headers('if-none-match') ifNoneMatch: string | undefined, @Res({ passthrough: true }) res: Response): Promise<WorkflowCatalog | undefined> {
    await this.registry.refreshSettings();
    const etag = `"${this.registry.revision}"`;
    res.setHeader('etag', etag);
    if (ifNoneMatch === etag) {
      res.status(HttpStatus.NOT_MODIFIED);
      return undefined;
    }
    return {
      revision: this.registry.revision,
      workflows: this.registry.names().map((name) => ({
        name,
        enabled: this.registry.enabled(name),
        reason: this.registry.setting(name)?.reason ?? null,
        default_version: this.registry.defaultVersion(name)?.manifest.version ?? null,
        versions: [...(this.registry.versions(name)?.values() ?? [])].map((v) => ({
          version: v.manifest.version,
          present: v.present,
          deprecated: v.manifest.deprecated,
          retired: v.manifest.retired,
          manifest: v.manifest as unknown as Record<string, unknown>,
        })),
      })),
    };
  }

  /** The last (re)load's findings, per file: what was refused and why (layer, code, file:line). */
  @Get('findings')
  @RequireOperation('read')
  @QueryParameters([])
  findings(): LoadReport | { loaded_at: null } {
    return this.registry.report ?? { loaded_at: null };
  }

  /**
   * Per workflow@version over `window` (default 24h): runs by status, success rate, p50/p95, slowest step, retries, last
   * failure; with `bucket=hour|day` also `series`, the window's runs per bucket (a bad bucket is a 400). Every figure is
   * of the caller's products only, as the runs list: a narrowed caller counts neither other products' runs nor runs
   * without a product.
   */
  @Get('stats')
  @RequireOperation('read')
  @QueryParameters(WORKFLOW_STATS_QUERY_PARAMETERS)
  statistics(
    @Requester() requester: VerifiedRequester,
    @Query('window') window?: string,
    @Query('name') name?: string,
    @Query('bucket') bucket?: string,
  ): Promise<WorkflowStatsResponse> {
    return this.stats.stats(window || undefined, name || undefined, bucket || undefined, productFilter(requester));
  }

  /** Plugins first (a manifest may name an action that just came), then the workflows directory. */
  @Post('reload')
  @RequireOperation('admin')
  async reload(): Promise<LoadReport & { plugins: PluginReloadReport }> {
    const plugins = await this.plugins.reload('request');
    return { ...(await this.registry.reload()), plugins };
  }

  @Get(':name')
  @RequireOperation('read')
  @QueryParameters([])
  async show(@Param('name') name: string, @Requester() requester: VerifiedRequester): Promise<WorkflowSummaryView> {
    this.assertKnown(name);
    return this.summary(name, await this.runs.liveRunCounts(productFilter(requester)));
  }

  @Get(':name/versions/:version')
  @RequireOperation('read')
  @QueryParameters([])
  version(@Param('name') name: string, @Param('version') version: string): Record<string, unknown> {
    const manifest = this.registry.definition(name, version);
    if (!manifest) throw new WorkflowException(WorkflowErrorCode.UnknownVersion, `${name}@${version} is not registered`, 404);
    return manifest as unknown as Record<string, unknown>;
  }

  @Post(':name/enable')
  @HttpCode(HttpStatus.OK)
  @RequireOperation('admin')
  async enable(@Param('name') name: string, @Body() body: ExecutorSetWorkflowEnabledDto, @Requester() requester: VerifiedRequester): Promise<WorkflowSummaryView> {
    this.assertKnown(name);
    await this.registry.setEnabled(name, true, actingFor(requester, body.actor), body.reason);
    return this.summary(name, await this.runs.liveRunCounts(productFilter(requester)));
  }

  @Post(':name/disable')
  @HttpCode(HttpStatus.OK)
  @RequireOperation('admin')
  async disable(@Param('name') name: string, @Body() body: ExecutorSetWorkflowEnabledDto, @Requester() requester: VerifiedRequester): Promise<WorkflowSummaryView> {
    this.assertKnown(name);
    await this.registry.setEnabled(name, false, actingFor(requester, body.actor), body.reason);
    return this.summary(name, await this.runs.liveRunCounts(productFilter(requester)));
  }

  private assertKnown(name: string): void {
    if (!this.registry.versions(name)) throw new WorkflowException(WorkflowErrorCode.UnknownWorkflow, `no workflow named ${name}`, 404);
  }

  private summary(name: string, live: Map<string, number>): WorkflowSummaryView {
    const versions = [...(this.registry.versions(name)?.values() ?? [])].sort((a, b) => compareDesc(a.manifest.version, b.manifest.version));
    const defaultVersion = this.registry.defaultVersion(name);
    const setting = this.registry.setting(name);
    return {
      name,
      enabled: this.registry.enabled(name),
      default_version: defaultVersion?.manifest.version ?? null,
      description: (defaultVersion ?? versions[0])?.manifest.description ?? null,
      versions: versions.map((v) => ({
        version: v.manifest.version,
        content_hash: v.manifest.content_hash,
        registered_at: v.registered_at.toISOString(),
        present: v.present,
        deprecated: v.manifest.deprecated,
        retired: v.manifest.retired,
        description: v.manifest.description ?? null,
        file: v.manifest.file ?? null,
        live_runs: live.get(`${name}@${v.manifest.version}`) ?? 0,
      })),
      setting: setting
        ? { enabled: setting.enabled, updated_by: setting.updated_by, updated_at: setting.updated_at.toISOString(), reason: setting.reason ?? null }
        : null,
    };
  }
}

function compareDesc(a: string, b: string): number {
  return compareVersions(b, a);
}
