import {
  type ExecutorRunControlDto,
  type ExecutorRunSignalDto,
  type ExecutorSetWorkflowEnabledDto,
  type ExecutorStartRunDto,
  type RunListQueryDto,
  type RunListResponse,
  type RunSummaryView,
  type RunView,
  type WorkflowCatalog,
  type WorkflowListResponse,
  type WorkflowSummaryView,
  type PluginDetailView,
  type PluginListResponse,
  type WorkflowStatsResponse,
  type CapturedMessageListResponse,
  type CapturedMessageView,
  type ExecuteWorkflowRequest,
  type ExecuteWorkflowResponse,
  type EventBatchItem,
  EXECUTOR_EXECUTE_BATCH_ROUTE,
  EXECUTOR_RUN_STARTS_ROUTE,
  ExecutorApiErrorCode,
  type HealthResponse,
  type TaskListResponse,
  type TaskView,
} from '@pancha/contracts';
import { type BatchCallResult, HttpServiceClient, ServiceCallError, type ServiceClientOptions } from '@pancha/http-client';

/** Product scope of the caller a request is made for (undefined: every product this service may see). */
export interface ProductScopeOption {
  products?: string[];
}

/**
 * Typed client of the Workflow Executor (port 8003). Every non-2xx reply, including the 400
 * missing_workflow_payload body and the 409 execution_in_progress, is thrown as a ServiceCallError
 * whose `retryable` tells an outbox whether to try again (true for execution_in_progress).
 */
export class WorkflowExecutorClient extends HttpServiceClient {
  constructor(options: ServiceClientOptions) {
    super('workflow-executor', options);
  }

  /** POST /api/workflow/execute: the executed (or replayed) result, or `status: "skipped"` for non-workflow decisions. */
  async execute(body: ExecuteWorkflowRequest, options: { timeoutMs?: number } = {}): Promise<ExecuteWorkflowResponse> {
    try {
      const res = await this.request<ExecuteWorkflowResponse>({
        method: 'POST',
        url: '/api/workflow/execute',
        data: body,
        timeoutMs: options.timeoutMs,
      });
      return res.data;
    } catch (error) {
      throw inProgressIsRetryable(error);
    }
  }

  /**
   * POST /api/workflow/execute-batch: many executions in one request, one result per item in order, each what
   * `execute` would have answered or thrown for it (an executor without the route gets single requests).
   */
  async executeBatch(items: readonly EventBatchItem<ExecuteWorkflowRequest>[], options: { timeoutMs?: number } = {}): Promise<BatchCallResult<ExecuteWorkflowResponse>[]> {
    const results = await this.requestBatch(EXECUTOR_EXECUTE_BATCH_ROUTE, items, (body) => this.execute(body, options), options);
    return results.map((result) => (result.ok ? result : { ok: false, error: inProgressIsRetryable(result.error) as ServiceCallError }));
  }

  /** GET /api/tasks?user_id=: task rows created by the `task` adapter, newest first. */
  async tasks(userId?: string, options: { limit?: number } = {}): Promise<TaskView[]> {
    const params: Record<string, string | number> = {};
    if (userId !== undefined) params.user_id = userId;
    if (options.limit !== undefined) params.limit = options.limit;
    const res = await this.request<TaskListResponse>({ method: 'GET', url: '/api/tasks', params });
    return res.data.tasks;
  }

  /** GET /api/outbox: messages the capture outbox kept because no email/WhatsApp provider was configured. */
  async outbox(options: { channel?: 'email' | 'whatsapp'; trace_id?: string; limit?: number } = {}): Promise<CapturedMessageView[]> {
    const res = await this.request<CapturedMessageListResponse>({ method: 'GET', url: '/api/outbox', params: options });
    return res.data.messages;
  }

  /** POST /api/runs: starts a run Core accepted (idempotent on run_id). */
  async startRun(body: ExecutorStartRunDto): Promise<RunSummaryView> {
    return (await this.request<RunSummaryView>({ method: 'POST', url: '/api/runs', data: body })).data;
  }

  /** POST /api/runs/batch: many starts in one request, one result per start in order (single requests without the route). */
  startRuns(items: readonly EventBatchItem<ExecutorStartRunDto>[]): Promise<BatchCallResult<RunSummaryView>[]> {
    return this.requestBatch(EXECUTOR_RUN_STARTS_ROUTE, items, (body) => this.startRun(body));
  }

  async run(runId: string, scope: ProductScopeOption = {}): Promise<RunView> {
    return (await this.request<RunView>({ method: 'GET', url: `/api/runs/${encodeURIComponent(runId)}`, products: scope.products })).data;
  }

  async runs(query: RunListQueryDto, scope: ProductScopeOption = {}): Promise<RunListResponse> {
    return (await this.request<RunListResponse>({ method: 'GET', url: '/api/runs', params: query, products: scope.products })).data;
  }

  /** `actor`: who asked Core (governance actorOf), recorded as the control's actor; only Core's token may send it. */
  async cancelRun(runId: string, scope: ProductScopeOption = {}, actor?: string): Promise<RunSummaryView> {
    const data: ExecutorRunControlDto = actor ? { actor } : {};
    return (await this.request<RunSummaryView>({ method: 'POST', url: `/api/runs/${encodeURIComponent(runId)}/cancel`, data, products: scope.products })).data;
  }

  async retryRun(runId: string, scope: ProductScopeOption = {}, actor?: string): Promise<RunSummaryView> {
    const data: ExecutorRunControlDto = actor ? { actor } : {};
    return (await this.request<RunSummaryView>({ method: 'POST', url: `/api/runs/${encodeURIComponent(runId)}/retry`, data, products: scope.products })).data;
  }

  async signalRun(
    runId: string,
    name: string,
    payload: unknown,
    scope: ProductScopeOption = {},
    actor?: string,
    idempotencyKey?: string,
  ): Promise<{ signal_id: string; run: RunSummaryView }> {
    const url = `/api/runs/${encodeURIComponent(runId)}/signals/${encodeURIComponent(name)}`;
    const data: ExecutorRunSignalDto = { payload, ...(actor ? { actor } : {}), ...(idempotencyKey !== undefined ? { idempotency_key: idempotencyKey } : {}) };
    return (await this.request<{ signal_id: string; run: RunSummaryView }>({ method: 'POST', url, data, products: scope.products })).data;
  }

  /** GET /api/workflows/catalog: undefined when `etag` still matches (304). */
  async catalog(etag?: string): Promise<{ catalog: WorkflowCatalog; etag?: string } | undefined> {
    const res = await this.requestWithHeaders<WorkflowCatalog>({
      method: 'GET',
      url: '/api/workflows/catalog',
      headers: etag ? { 'if-none-match': etag } : {},
      acceptStatus: [304],
    });
    if (res.status === 304) return undefined;
    return { catalog: res.data, etag: res.headers.etag };
  }

  /** `scope`: the products of the caller the list is for; the executor counts `live_runs` of their runs only. */
  async workflows(scope: ProductScopeOption = {}): Promise<WorkflowListResponse> {
    return (await this.request<WorkflowListResponse>({ method: 'GET', url: '/api/workflows', products: scope.products })).data;
  }

  async workflow(name: string, scope: ProductScopeOption = {}): Promise<WorkflowSummaryView> {
    return (await this.request<WorkflowSummaryView>({ method: 'GET', url: `/api/workflows/${encodeURIComponent(name)}`, products: scope.products })).data;
  }

  async workflowVersion(name: string, version: string): Promise<Record<string, unknown>> {
    const url = `/api/workflows/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
    return (await this.request<Record<string, unknown>>({ method: 'GET', url })).data;
  }

  /**
   * `actor`: who asked Core (actorOf), recorded by the executor and in Bucket instead of Core itself; `scope`: the
   * caller's products, of whose runs the answer's `live_runs` are.
   */
  async setWorkflowEnabled(name: string, enabled: boolean, change: ExecutorSetWorkflowEnabledDto = {}, scope: ProductScopeOption = {}): Promise<WorkflowSummaryView> {
    const url = `/api/workflows/${encodeURIComponent(name)}/${enabled ? 'enable' : 'disable'}`;
    const data: ExecutorSetWorkflowEnabledDto = {
      ...(change.reason ? { reason: change.reason } : {}),
      ...(change.actor ? { actor: change.actor } : {}),
    };
    return (await this.request<WorkflowSummaryView>({ method: 'POST', url, data, products: scope.products })).data;
  }

  async reloadWorkflows(): Promise<unknown> {
    return (await this.request<unknown>({ method: 'POST', url: '/api/workflows/reload', timeoutMs: 60_000 })).data;
  }

  async workflowFindings(): Promise<unknown> {
    return (await this.request<unknown>({ method: 'GET', url: '/api/workflows/findings' })).data;
  }

  /** `scope`: the products of the caller the stats are for (as for runs); the executor counts only their runs. */
  async workflowStats(query: { window?: string; name?: string; bucket?: string } = {}, scope: ProductScopeOption = {}): Promise<WorkflowStatsResponse> {
    const params = new URLSearchParams();
    if (query.window) params.set('window', query.window);
    if (query.name) params.set('name', query.name);
    if (query.bucket) params.set('bucket', query.bucket);
    const qs = params.size > 0 ? `?${params.toString()}` : '';
    return (await this.request<WorkflowStatsResponse>({ method: 'GET', url: `/api/workflows/stats${qs}`, products: scope.products })).data;
  }

  async plugins(): Promise<PluginListResponse> {
    return (await this.request<PluginListResponse>({ method: 'GET', url: '/api/plugins' })).data;
  }

  async plugin(name: string): Promise<PluginDetailView> {
    return (await this.request<PluginDetailView>({ method: 'GET', url: `/api/plugins/${encodeURIComponent(name)}` })).data;
  }

  async health(): Promise<HealthResponse> {
    const res = await this.request<HealthResponse>({ method: 'GET', url: '/healthz' });
    return res.data;
  }
}

/**
 * 409 is normally final, but execution_in_progress only means "the first attempt has not finished yet": a retry
 * later gets the stored result.
 */
function inProgressIsRetryable(error: unknown): unknown {
  if (error instanceof ServiceCallError && error.status === 409 && error.code === ExecutorApiErrorCode.ExecutionInProgress && !error.retryable) {
    return new ServiceCallError(error.message, error.status, error.body, true);
  }
  return error;
}
