import {
  CORE_EVENTS_BATCH_ROUTE,
  type CoreTaskView,
  type EventAccepted,
  type EventBatchAccepted,
  type EventBatchItem,
  type HandleTaskAccepted,
  type HandleTaskRequest,
  type HandleTasksAccepted,
  type HealthResponse,
  type PublishEventRequest,
} from '@pancha/contracts';
import { type BatchCallResult, HttpServiceClient, type ServiceClientOptions } from '@pancha/http-client';

/**
 * Typed client of Core (port 8002). Non-2xx replies are thrown as ServiceCallError (422 validation_failed,
 * 404 task_not_found, 401/403 from governance, 503 database_unavailable).
 */
export class CoreClient extends HttpServiceClient {
  constructor(options: ServiceClientOptions) {
    super('core', options);
  }

  /** POST /handle_task → 202: the task is stored and its workflow queued; nothing downstream is awaited. */
  async handleTask(body: HandleTaskRequest): Promise<HandleTaskAccepted> {
    const res = await this.request<HandleTaskAccepted>({ method: 'POST', url: '/handle_task', data: body });
    return res.data;
  }

  /**
   * POST /handle_tasks → 202: up to 100 tasks (and 256 KiB of body) stored in one commit, or none; their answers in
   * order. Needs a credential. With an LLM agent a batch's decisions take up to 2 × Core's LLM_TIMEOUT_MS: give it a
   * `timeoutMs` above that, and an `idempotencyKey` so that a retry after a timeout is answered from the first commit
   * instead of storing twice.
   */
  async handleTasks(tasks: HandleTaskRequest[], options: { idempotencyKey?: string; timeoutMs?: number } = {}): Promise<HandleTasksAccepted> {
    const res = await this.request<HandleTasksAccepted>({
      method: 'POST',
      url: '/handle_tasks',
      data: { tasks },
      ...(options.idempotencyKey !== undefined ? { headers: { 'idempotency-key': options.idempotencyKey } } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    return res.data;
  }

  /** GET /tasks/:task_id: status, execution_result and the Bucket timeline of the task's trace. */
  async task(taskId: string): Promise<CoreTaskView> {
    const res = await this.request<CoreTaskView>({ method: 'GET', url: `/tasks/${encodeURIComponent(taskId)}` });
    return res.data;
  }

  /** POST /events → 202: the event is recorded and routed (a repeated id starts nothing; 422 names each bad field). */
  async publishEvent(body: PublishEventRequest): Promise<EventAccepted>;
  async publishEvent(body: PublishEventRequest[]): Promise<EventBatchAccepted>;
  async publishEvent(body: PublishEventRequest | PublishEventRequest[]): Promise<EventAccepted | EventBatchAccepted> {
    const res = await this.request<EventAccepted | EventBatchAccepted>({ method: 'POST', url: '/events', data: body });
    return res.data;
  }

  /**
   * POST /events/batch: each event with its own trace, answered on its own (one refused event fails alone); against a
   * Core without the route, one POST /events per event.
   */
  publishEvents(items: readonly EventBatchItem<PublishEventRequest>[]): Promise<BatchCallResult<EventAccepted>[]> {
    return this.requestBatch(CORE_EVENTS_BATCH_ROUTE, items, (body) => this.publishEvent(body));
  }

  async health(): Promise<HealthResponse> {
    const res = await this.request<HealthResponse>({ method: 'GET', url: '/health' });
    return res.data;
  }
}
