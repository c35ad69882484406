import { Body, Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import {
  type EventBatchItem,
  type EventBatchReply,
  EXECUTOR_RUN_STARTS_ROUTE,
  ExecutorRunControlDto,
  ExecutorRunSignalDto,
  ExecutorStartRunDto,
  RUN_LIST_QUERY_PARAMETERS,
  RunListQueryDto,
  type RunListResponse,
  type RunSummaryView,
  type RunView,
  SIGNAL_NAME_REGEX,
} from '@pancha/contracts';
import { actingFor, Requester, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { answerEachItem, BatchEvents, keepAsSent, QueryParameters, refuseQueryParameters, validationException } from '@pancha/service-kit';
import { RunsService } from './runs.service';

const runIdPipe = new ParseUUIDPipe({
  exceptionFactory: () => validationException([{ field: 'run_id', messages: ['run_id must be a UUID'] }]),
});

/** Names callers send by mistake for a filter of GET /api/runs. */
const RUN_LIST_HINTS: Readonly<Record<string, string>> = {
  state: "a run's state is filtered by status",
  name: 'the workflow is filtered by workflow',
};

// Free-form JSON stored as sent, members named __proto__, constructor or prototype too (single and batch starts alike).
keepAsSent(ExecutorStartRunDto, 'inputs');
keepAsSent(ExecutorRunSignalDto, 'payload');

/** The executor's governed runs API (Core's public /runs routes sit on top of it). */
@Controller('api/runs')
export class RunsController {
  constructor(private readonly runs: RunsService) {}

  /**
   * Starts a run Core accepted; idempotent on run_id (a redelivered start answers with the run as it is). It takes no
   * query parameter: any (`?dry=1`) is a 400 naming it, and nothing starts.
   */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('execute')
  start(@Body() body: ExecutorStartRunDto, @Requester() requester: VerifiedRequester, @Query() query: Record<string, unknown>): Promise<RunSummaryView> {
    refuseQueryParameters(query, 'POST /api/runs');
    return this.runs.start(body, requester);
  }

  /**
   * The batch twin of POST /api/runs (Core's outbox relay sends its claimed starts here): the same token and
   * `execute` operation, each start validated and made as the single route would (idempotent on run_id), in the
   * trace its item carries; 200 with one outcome (202 + the run, or the refusal) per start, in order.
   */
  @Post(EXECUTOR_RUN_STARTS_ROUTE.slice('/api/runs/'.length))
  @HttpCode(HttpStatus.OK)
  @RequireOperation('execute')
  async startBatch(
    @BatchEvents() events: EventBatchItem[],
    @Requester() requester: VerifiedRequester,
    @Query() query: Record<string, unknown>,
  ): Promise<EventBatchReply<RunSummaryView>> {
    refuseQueryParameters(query, `POST ${EXECUTOR_RUN_STARTS_ROUTE}`);
    const results = await answerEachItem(events, ExecutorStartRunDto, 'workflow run start', async (body) => ({
      status: HttpStatus.ACCEPTED,
      body: await this.runs.start(body, requester),
    }));
    return { results };
  }

  /**
   * Runs, filtered, newest first (or the change feed, with `updated_since`). A query parameter the route does not
   * define (`?state=failed`) is a 400 naming it: ignored, it would answer the unfiltered list as if filtered. A
   * repeated one (`?status=a&status=b`) is a 422 "is given more than once", before the DTO's validators see it.
   */
  @Get()
  @RequireOperation('read')
  @QueryParameters(RUN_LIST_QUERY_PARAMETERS, RUN_LIST_HINTS)
  list(@Query() query: RunListQueryDto, @Requester() requester: VerifiedRequester): Promise<RunListResponse> {
    return this.runs.list(query, requester);
  }

  /** One run with its steps, attempts, signals, children and start warnings; it takes no query parameter (any is a 400). */
  @Get(':run_id')
  @RequireOperation('read')
  @QueryParameters([])
  view(@Param('run_id', runIdPipe) runId: string, @Requester() requester: VerifiedRequester): Promise<RunView> {
    return this.runs.view(runId, requester);
  }

  @Post(':run_id/cancel')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('operate')
  cancel(@Param('run_id', runIdPipe) runId: string, @Body() body: ExecutorRunControlDto, @Requester() requester: VerifiedRequester): Promise<RunSummaryView> {
    return this.runs.cancel(runId, requester, actingFor(requester, body.actor));
  }

  @Post(':run_id/retry')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('operate')
  retry(@Param('run_id', runIdPipe) runId: string, @Body() body: ExecutorRunControlDto, @Requester() requester: VerifiedRequester): Promise<RunSummaryView> {
    return this.runs.retry(runId, requester, actingFor(requester, body.actor));
  }

  @Post(':run_id/signals/:name')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('operate')
  signal(
    @Param('run_id', runIdPipe) runId: string,
    @Param('name') name: string,
    @Body() body: ExecutorRunSignalDto,
    @Requester() requester: VerifiedRequester,
  ): Promise<{ signal_id: string; run: RunSummaryView }> {
    if (!SIGNAL_NAME_REGEX.test(name)) throw validationException([{ field: 'name', messages: ['a signal name is 1-128 of [a-z0-9_.-]'] }]);
    return this.runs.signal(runId, name, body.payload, requester, actingFor(requester, body.actor), body.idempotency_key);
  }
}
