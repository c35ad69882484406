import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import {
  SetWorkflowEnabledDto,
  type StartRunAccepted,
  StartRunRequestDto,
  WORKFLOW_NAME_REGEX,
  WORKFLOW_STATS_QUERY_PARAMETERS,
  WorkflowErrorCode,
  type WorkflowListResponse,
  type WorkflowStatsResponse,
  type WorkflowSummaryView,
} from '@pancha/contracts';
import { actorOf, Requester, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { checkedIdempotencyKey, DomainException, keepAsSent, QueryParameters, refuseQueryParameters, refuseUnknownBodyFields } from '@pancha/service-kit';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import type { Response } from 'express';
import { WorkflowCatalogService } from './workflow-catalog.service';
import { scopeOf, WorkflowRunsService } from './workflow-runs.service';

/** Names callers send by mistake for one GET /workflows/stats takes. */
const STATS_HINTS: Readonly<Record<string, string>> = {
  workflow: 'the workflow is named by name',
  since: 'the window is a duration such as 24h, given as window',
};

// A run's inputs are free-form JSON, stored and handed on as sent (members named __proto__, constructor, prototype too).
keepAsSent(StartRunRequestDto, 'inputs');

/**
 * Workflows on Core's public port: start runs, and look at or manage the executor's registry. A read route answers a
 * query parameter it does not define with a 400 naming it and a repeated one with a 422 (@QueryParameters): ignored,
 * `GET /workflows/stats?nme=x` would answer every workflow's figures as if they were x's.
 */
@Controller('workflows')
export class WorkflowsController {
  constructor(
    private readonly runs: WorkflowRunsService,
    private readonly catalog: WorkflowCatalogService,
    private readonly executor: WorkflowExecutorClient,
  ) {}

  /**
   * 202 once the run is stored with its outbox message; the executor starts it right after. The route takes no query
   * parameter: any (`?dry=1`) is a 400 naming it, and a body field it does not define (`verison`, `idempotency_key`) a
   * 422 naming it; nothing is stored either way. With an `Idempotency-Key` header a retry (same requester, key, workflow
   * and body) gets the first 202 again (header `idempotent-replay: true`) and starts nothing; the same key with another
   * request is a 409 `idempotency_key_reused`.
   */
  @Post(':name/runs')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('start')
  async start(
    @Param('name') name: string,
    @Body() body: StartRunRequestDto,
    @Requester() requester: VerifiedRequester,
    @Query() query: Record<string, unknown>,
    @Body() sent: Record<string, unknown>,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StartRunAccepted> {
    refuseQueryParameters(query, 'POST /workflows/:name/runs');
    refuseUnknownBodyFields(sent, body, 'POST /workflows/:name/runs');
    const key = checkedIdempotencyKey(idempotencyKey);
    assertName(name);
    const params = {
      workflow: name,
      version: body.version,
      inputs: body.inputs ?? {},
      user_id: body.user_id,
      product: body.product,
      actor: actorOf(requester),
      source: 'api',
    };
    // What a retry must repeat: the workflow and every field of the body, as sent (before a product is implied).
    const request = { workflow: name, version: body.version, inputs: params.inputs, user_id: body.user_id, product: body.product };
    const { reply, replayed } = await this.runs.startOnce(params, requester, request, key);
    if (replayed) res.setHeader('idempotent-replay', 'true');
    return reply;
  }

  /** The executor's registry; asked with the caller's products, so `live_runs` counts only runs the caller may see. */
  @Get()
  @RequireOperation('read')
  @QueryParameters([])
  async list(@Requester() requester: VerifiedRequester): Promise<WorkflowListResponse> {
    try {
      return await this.executor.workflows(scopeOf(requester));
    } catch (error) {
      throw this.runs.translate(error);
    }
  }

  @Post('reload')
  @HttpCode(HttpStatus.OK)
  @RequireOperation('admin')
  async reload(): Promise<unknown> {
    try {
      const report = await this.executor.reloadWorkflows();
      await this.catalog.sync();
      return report;
    } catch (error) {
      throw this.runs.translate(error);
    }
  }

  /**
   * The executor's stats (`window` default 24h, optional `name`, optional `bucket=hour|day` for the per-bucket
   * series); the executor refuses a bad window or bucket with 400. Asked with the caller's products, as run reads are
   * (the executor's token says them), so a narrowed or anonymous caller gets the figures of its products' runs only.
   */
  @Get('stats')
  @RequireOperation('read')
  @QueryParameters(WORKFLOW_STATS_QUERY_PARAMETERS, STATS_HINTS)
  async stats(
    @Requester() requester: VerifiedRequester,
    @Query('window') window?: string,
    @Query('name') name?: string,
    @Query('bucket') bucket?: string,
  ): Promise<WorkflowStatsResponse> {
    return this.runs.stats({ window, name, bucket }, requester);
  }

  @Get('findings')
  @RequireOperation('read')
  @QueryParameters([])
  async findings(): Promise<unknown> {
    try {
      return await this.executor.workflowFindings();
    } catch (error) {
      throw this.runs.translate(error);
    }
  }

  /**
   * The executor's view; when it is ahead of this Core's mirror (a version the watcher just registered), the mirror
   * catches up before the answer, so a start right after a show gets the version the show named. `live_runs` counts
   * the caller's products' runs only, as for the list.
   */
  @Get(':name')
  @RequireOperation('read')
  @QueryParameters([])
  async show(@Param('name') name: string, @Requester() requester: VerifiedRequester): Promise<WorkflowSummaryView> {
    assertName(name);
    let summary: WorkflowSummaryView;
    try {
      summary = await this.executor.workflow(name, scopeOf(requester));
    } catch (error) {
      throw this.runs.translate(error);
    }
    if (this.catalog.differs(summary)) await this.catalog.sync();
    return summary;
  }

  @Get(':name/versions/:version')
  @RequireOperation('read')
  @QueryParameters([])
  async version(@Param('name') name: string, @Param('version') version: string): Promise<Record<string, unknown>> {
    assertName(name);
    let manifest: Record<string, unknown>;
    try {
      manifest = await this.executor.workflowVersion(name, version);
    } catch (error) {
      throw this.runs.translate(error);
    }
    // With `present` (whether the version is still in the workflows directory), as the list view has it: a version
    // gone from it is not `retired` in its manifest, yet a start on it is a 409 version_retired.
    return this.catalog.versionView(name, manifest);
  }

  /** Takes effect for new runs on this Core at once (others within one catalog refresh); in-flight runs finish. */
  @Post(':name/enable')
  @HttpCode(HttpStatus.OK)
  @RequireOperation('admin')
  enable(@Param('name') name: string, @Body() body: SetWorkflowEnabledDto, @Requester() requester: VerifiedRequester): Promise<WorkflowSummaryView> {
    return this.setEnabled(name, true, body.reason, requester);
  }

  @Post(':name/disable')
  @HttpCode(HttpStatus.OK)
  @RequireOperation('admin')
  disable(@Param('name') name: string, @Body() body: SetWorkflowEnabledDto, @Requester() requester: VerifiedRequester): Promise<WorkflowSummaryView> {
    return this.setEnabled(name, false, body.reason, requester);
  }

  /**
   * The executor records the change (its setting and the Bucket entry) in the name of who asked Core, not Core's, and
   * answers the summary with `live_runs` of the caller's products.
   */
  private async setEnabled(name: string, enabled: boolean, reason: string | undefined, requester: VerifiedRequester): Promise<WorkflowSummaryView> {
    assertName(name);
    let summary: WorkflowSummaryView;
    try {
      summary = await this.executor.setWorkflowEnabled(name, enabled, { reason, actor: actorOf(requester) }, scopeOf(requester));
    } catch (error) {
      throw this.runs.translate(error);
    }
    this.catalog.applyEnabled(name, enabled, summary.setting?.reason ?? reason);
    await this.catalog.sync();
    return summary;
  }
}

function assertName(name: string): void {
  if (!WORKFLOW_NAME_REGEX.test(name)) {
    throw new DomainException(HttpStatus.NOT_FOUND, WorkflowErrorCode.UnknownWorkflow, `no workflow named ${name.slice(0, 80)}`);
  }
}
