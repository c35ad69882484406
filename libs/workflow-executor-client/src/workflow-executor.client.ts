import {
  type CapturedMessageListResponse,
  type CapturedMessageView,
  type ExecuteWorkflowRequest,
  type ExecuteWorkflowResponse,
  ExecutorApiErrorCode,
  type HealthResponse,
  type TaskListResponse,
  type TaskView,
} from '@pancha/contracts';
import { HttpServiceClient, ServiceCallError, type ServiceClientOptions } from '@pancha/http-client';

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
      // 409 is normally final, but execution_in_progress only means "the first attempt has not finished yet":
      // a retry later gets the stored result.
      if (error instanceof ServiceCallError && error.status === 409 && error.code === ExecutorApiErrorCode.ExecutionInProgress) {
        throw new ServiceCallError(error.message, error.status, error.body, true);
      }
      throw error;
    }
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

  async health(): Promise<HealthResponse> {
    const res = await this.request<HealthResponse>({ method: 'GET', url: '/healthz' });
    return res.data;
  }
}
