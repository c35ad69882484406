import {
  type EventBatchItem,
  type HealthResponse,
  KARMA_EVENTS_ROUTE,
  type KarmaEventReply,
  type KarmaEventRequest,
  type KarmaHistory,
  type KarmaHistoryBucket,
  type KarmaProfile,
  type KarmaUserStats,
  type QTableView,
} from '@pancha/contracts';
import { type BatchCallResult, HttpServiceClient, type ServiceClientOptions } from '@pancha/http-client';

/**
 * Typed client of Karma (port 8000). Events are idempotent by data.event_id: send one with every event an
 * outbox may retry. Non-2xx replies throw a ServiceCallError: 422 (unknown_action, unknown_atonement_type,
 * validation_failed, …) and 409 event_id_conflict are not retryable; 503 database_unavailable is.
 */
export class KarmaClient extends HttpServiceClient {
  constructor(options: ServiceClientOptions) {
    super('karma', options);
  }

  /** POST /v1/event/. A repeated data.event_id resolves with the first reply, unchanged. */
  async submitEvent<D = Record<string, unknown>>(body: KarmaEventRequest): Promise<KarmaEventReply<D>> {
    const res = await this.request<KarmaEventReply<D>>({ method: 'POST', url: '/v1/event/', data: body });
    return res.data;
  }

  /**
   * POST /v1/events: many events in one request, one result per event in order (a refused event carries the
   * ServiceCallError its single request would have thrown). A Karma without the batch route gets single
   * requests instead; see HttpServiceClient.requestBatch.
   */
  submitEvents<D = Record<string, unknown>>(items: readonly EventBatchItem<KarmaEventRequest>[]): Promise<BatchCallResult<KarmaEventReply<D>>[]> {
    return this.requestBatch(KARMA_EVENTS_ROUTE, items, (body) => this.submitEvent<D>(body));
  }

  /** GET /api/v1/karma/:user_id (404 user_not_found for a user Karma never saw). */
  async profile(userId: string): Promise<KarmaProfile> {
    const res = await this.request<KarmaProfile>({ method: 'GET', url: `/api/v1/karma/${encodeURIComponent(userId)}` });
    return res.data;
  }

  /** GET /v1/stats/user/:user_id: the profile plus activity counts. */
  async userStats(userId: string): Promise<KarmaUserStats> {
    const res = await this.request<KarmaUserStats>({ method: 'GET', url: `/v1/stats/user/${encodeURIComponent(userId)}` });
    return res.data;
  }

  /**
   * GET /v1/karma/:user_id/history: merit, paap and net per hour or day bucket of the ledger (every bucket of
   * the range; a range over KARMA_HISTORY_MAX_BUCKETS buckets or a bad parameter is a 422 naming it).
   */
  async history(userId: string, query: { since?: Date | string; until?: Date | string; bucket?: KarmaHistoryBucket } = {}): Promise<KarmaHistory> {
    const params: Record<string, string> = {};
    if (query.since !== undefined) params.since = query.since instanceof Date ? query.since.toISOString() : query.since;
    if (query.until !== undefined) params.until = query.until instanceof Date ? query.until.toISOString() : query.until;
    if (query.bucket !== undefined) params.bucket = query.bucket;
    const res = await this.request<KarmaHistory>({ method: 'GET', url: `/v1/karma/${encodeURIComponent(userId)}/history`, params });
    return res.data;
  }

  /** GET /v1/q-table. */
  async qTable(): Promise<QTableView> {
    const res = await this.request<QTableView>({ method: 'GET', url: '/v1/q-table' });
    return res.data;
  }

  /** GET /health (no credential needed). */
  async health(): Promise<HealthResponse> {
    const res = await this.request<HealthResponse>({ method: 'GET', url: '/health' });
    return res.data;
  }
}
