import {
  BUCKET_WRITE_EVENTS_ROUTES,
  type AuditVerifyResult,
  type BucketStats,
  type BucketWriteChannel,
  type EventsPage,
  type HealthResponse,
  type PranaIngestResult,
  type PranaPacket,
  type PranaUserPackets,
  type ReadContextResult,
  type SignedCheckpoint,
  type WriteEventRequest,
  type WriteEventResult,
  type EventBatchItem,
} from '@pancha/contracts';
import { type BatchCallResult, HttpServiceClient, type ServiceClientOptions } from '@pancha/http-client';

export interface EventsQuery {
  trace_id?: string;
  product?: string;
  after_seq?: number;
  limit?: number;
}

/**
 * Typed client of Bucket (port 8001). Writes are idempotent by event_data.event_id: resending the same
 * event resolves with `replayed: true`; the same id with other content is a 409 event_id_conflict
 * (a non-retryable ServiceCallError). Every other non-2xx is thrown as a ServiceCallError too.
 */
export class BucketClient extends HttpServiceClient {
  constructor(options: ServiceClientOptions) {
    super('bucket', options);
  }

  /** POST /core/write-event or /workflow/write-event. */
  async writeEvent(channel: BucketWriteChannel, body: WriteEventRequest): Promise<WriteEventResult> {
    const res = await this.request<WriteEventResult>({ method: 'POST', url: `/${channel}/write-event`, data: body });
    return { ...res.data, replayed: res.data.replayed ?? res.status === 200 };
  }

  /**
   * POST /core/write-events or /workflow/write-events: many writes in one request, one result per event in
   * order (a refused event carries the ServiceCallError its single write would have thrown). A receiver without
   * the batch route (an older Bucket) gets single writes instead; see HttpServiceClient.requestBatch. `ordered`: Bucket
   * appends a batch's events in the order sent, and with it this client keeps that order when it splits a batch or
   * falls back to single writes, so the outbox may hand it a key's consecutive events at once (OutboxHandler.ordersBatch).
   */
  writeEvents(
    channel: BucketWriteChannel,
    items: readonly EventBatchItem<WriteEventRequest>[],
    options: { ordered?: boolean } = {},
  ): Promise<BatchCallResult<WriteEventResult>[]> {
    return this.requestBatch(BUCKET_WRITE_EVENTS_ROUTES[channel], items, (body) => this.writeEvent(channel, body), options);
  }

  /** GET /core/events: one page in seq order; pass next_after_seq back as after_seq. */
  async events(query: EventsQuery = {}): Promise<EventsPage> {
    const res = await this.request<EventsPage>({ method: 'GET', url: '/core/events', params: query });
    return res.data;
  }

  async stats(): Promise<BucketStats> {
    const res = await this.request<BucketStats>({ method: 'GET', url: '/core/stats' });
    return res.data;
  }

  /** GET /core/read-context: the latest entries whose user_id or event_data.agent_id is the agent, newest first. */
  async readContext(agentId: string, options: { limit?: number } = {}): Promise<ReadContextResult> {
    const res = await this.request<ReadContextResult>({
      method: 'GET',
      url: '/core/read-context',
      params: { agent_id: agentId, ...options },
    });
    return res.data;
  }

  /**
   * GET /audit/verify: re-hashes the entries after the server's last verified point (checking the chain still
   * reaches it), or with `full` the whole chain.
   */
  async verify(options: { full?: boolean } = {}): Promise<AuditVerifyResult> {
    const res = await this.request<AuditVerifyResult>({
      method: 'GET',
      url: '/audit/verify',
      params: options.full ? { full: 'true' } : undefined,
      timeoutMs: 120_000,
    });
    return res.data;
  }

  /** GET /audit/checkpoint: check it with verifyCheckpoint(checkpoint, bucketPublicKeyPem) and keep it. */
  async checkpoint(): Promise<SignedCheckpoint> {
    const res = await this.request<SignedCheckpoint>({ method: 'GET', url: '/audit/checkpoint' });
    return res.data;
  }

  /** POST /bucket/prana/ingest: 1..500 packets in one transaction. */
  async ingestPrana(packets: PranaPacket[]): Promise<PranaIngestResult> {
    const res = await this.request<PranaIngestResult>({ method: 'POST', url: '/bucket/prana/ingest', data: { packets } });
    return res.data;
  }

  /** GET /bucket/prana/user/:user_id. */
  async pranaUser(userId: string, options: { limit?: number } = {}): Promise<PranaUserPackets> {
    const res = await this.request<PranaUserPackets>({
      method: 'GET',
      url: `/bucket/prana/user/${encodeURIComponent(userId)}`,
      params: options,
    });
    return res.data;
  }

  async health(): Promise<HealthResponse> {
    const res = await this.request<HealthResponse>({ method: 'GET', url: '/health' });
    return res.data;
  }
}
