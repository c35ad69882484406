import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { RUN_LIST_QUERY_PARAMETERS, RunListQueryDto, type RunListResponse, RunSignalRequestDto, type RunSummaryView, SIGNAL_NAME_REGEX } from '@pancha/contracts';
import { Requester, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { checkedIdempotencyKey, keepAsSent, QueryParameters, validationException } from '@pancha/service-kit';
import { WorkflowRunsService } from './workflow-runs.service';

const runIdPipe = new ParseUUIDPipe({
  exceptionFactory: () => validationException([{ field: 'run_id', messages: ['run_id must be a UUID'] }]),
});

/** Names callers send by mistake for one GET /runs takes. */
const RUN_LIST_HINTS: Readonly<Record<string, string>> = {
  state: 'the run status filter is status',
  name: 'the workflow filter is workflow',
  window: 'a time window is since and until',
  page_size: 'the page size is limit',
};

// A signal's payload is any JSON (the approval step's output): handed on as sent, whatever its members are named.
keepAsSent(RunSignalRequestDto, 'payload');

/** Runs: status, steps, attempts (from the executor), and cancel / retry / signal, within the caller's products. */
@Controller('runs')
export class RunsController {
  constructor(private readonly runs: WorkflowRunsService) {}

  /**
   * The executor's runs merged with Core's own. A query parameter it does not define (`?state=failed`) is a 400 naming
   * it, not the unfiltered list taken for a filtered one. Top-level runs only, unless `include_children=true` (then
   * sub-workflow and fallback runs too: both have a parent run).
   */
  @Get()
  @RequireOperation('read')
  // Before the DTO is validated: a repeated filter (`?limit=1&limit=2`) is 'given more than once', not every rule.
  @QueryParameters(RUN_LIST_QUERY_PARAMETERS, RUN_LIST_HINTS)
  list(@Query() query: RunListQueryDto, @Requester() requester: VerifiedRequester): Promise<RunListResponse> {
    return this.runs.list(query, requester);
  }

  @Get(':run_id')
  @RequireOperation('read')
  @QueryParameters([])
  view(@Param('run_id', runIdPipe) runId: string, @Requester() requester: VerifiedRequester): Promise<unknown> {
    return this.runs.view(runId, requester);
  }

  @Post(':run_id/cancel')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('operate')
  cancel(@Param('run_id', runIdPipe) runId: string, @Requester() requester: VerifiedRequester): Promise<RunSummaryView> {
    return this.runs.control(runId, 'cancel', requester);
  }

  @Post(':run_id/retry')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('operate')
  retry(@Param('run_id', runIdPipe) runId: string, @Requester() requester: VerifiedRequester): Promise<RunSummaryView> {
    return this.runs.control(runId, 'retry', requester);
  }

  /**
   * With an `Idempotency-Key`, a signal sent again (after a timeout, say) is answered with the first and stored once;
   * the same key with another payload is a 409 `idempotency_key_reused`.
   */
  @Post(':run_id/signals/:name')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('operate')
  signal(
    @Param('run_id', runIdPipe) runId: string,
    @Param('name') name: string,
    @Body() body: RunSignalRequestDto,
    @Requester() requester: VerifiedRequester,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
  ): Promise<{ signal_id: string; run: RunSummaryView }> {
    if (!SIGNAL_NAME_REGEX.test(name)) throw validationException([{ field: 'name', messages: ['a signal name is 1-128 of [a-z0-9_.-]'] }]);
    return this.runs.signal(runId, name, body.payload, requester, checkedIdempotencyKey(idempotencyKey));
  }
}
