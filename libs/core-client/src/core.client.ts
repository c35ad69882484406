import type { CoreTaskView, EventAccepted, EventBatchAccepted, HandleTaskAccepted, HandleTaskRequest, HealthResponse, PublishEventRequest } from '@pancha/contracts';
import { HttpServiceClient, type ServiceClientOptions } from '@pancha/http-client';

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

  async health(): Promise<HealthResponse> {
    const res = await this.request<HealthResponse>({ method: 'GET', url: '/health' });
    return res.data;
  }
}
