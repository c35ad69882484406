import { Logger } from '@nestjs/common';
import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import {
  eventBatchErrors,
  hopOfEventBatchTopic,
  MAX_JSON_DEPTH,
  type EventBatchItem,
  type EventBatchOutcome,
  type RequesterId,
  type ServiceName,
} from '@pancha/contracts';
import {
  CLOCK_TOLERANCE_SECONDS,
  isReplayProtected,
  KeyStore,
  MAX_TOKEN_TTL_SECONDS,
  PolicyService,
  TokenReplayStore,
  TokenVerificationError,
  TokenVerifier,
  type Operation,
  type VerifiedRequester,
} from '@pancha/governance';
import { findUnstorableJson } from '@pancha/service-kit';
import { currentTraceId, runInTraceContext, SpanKind } from '@pancha/trace-context';
import {
  AckPolicy,
  DeliverPolicy,
  headers as natsHeaders,
  nanos,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type MsgHdrs,
} from 'nats';
import { lastValueFrom } from 'rxjs';
import { apiErrorCode } from './jetstream-stream';
import { initJetStreamMetrics, recordJetStreamEvents } from './jetstream-metrics';
import { JetStreamContext } from './jetstream.context';
import { dispositionForError, dispositionForStatus, JetStreamRejection, type MessageDisposition } from './message-disposition';
import { NatsLinkManager, type NatsLink } from './nats-link';
import { deadLetterSubject, subjectFor, type NatsSettings } from './nats.config';

/** Headers added to a dead-lettered copy. */
export const DLQ_HEADERS = {
  reason: 'pancha-dlq-reason',
  subject: 'pancha-dlq-subject',
  streamSequence: 'pancha-dlq-stream-seq',
  deliveries: 'pancha-dlq-deliveries',
  /** On an event dead-lettered out of a batch message: its place in that message's `events` (from 0). */
  batchIndex: 'pancha-dlq-batch-index',
} as const;

const CONSUMER_NOT_FOUND = 10014;
/** Deliveries JetStream allows past the server's maxDeliver, for a final settlement that failed to run. */
const SETTLEMENT_REDELIVERIES = 5;

export interface JetStreamServerOptions {
  settings: NatsSettings;
  /** This service: durable consumer name, token audience, `<prefix>.<service>.>` filter, policy target. */
  service: ServiceName;
  keys: KeyStore;
  policy: PolicyService;
  /** Where write tokens' jti are remembered (governance's store, this service's database); none: not checked. */
  replay?: TokenReplayStore;
  /** Policy operation every message needs (default `write`: the hops are writes). */
  operation?: Operation;
  /** Deliveries before a message that keeps failing is dead-lettered (default 20). */
  maxDeliver?: number;
  /** Unacknowledged for this long → redelivered (default 30 s). */
  ackWaitMs?: number;
  /** Messages handled at once (default 16). */
  concurrency?: number;
  /** Redelivery delay after a retryable failure: base · 2^(delivery-1), capped, with jitter (defaults 500 ms / 30 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/**
 * A Nest custom transport: a durable pull consumer (`<service>`, filter `<prefix>.<service>.>`, explicit ack)
 * on the JetStream stream, dispatching each message to the @EventPattern handler named by its topic
 * (`bucket.workflow-event`). Per message: the producer's trace is continued in a CONSUMER span; the bearer
 * token is verified with expiry judged at the message's JetStream timestamp (a message may wait in the
 * stream longer than the token lives), and the policy must grant the operation. Then: success → ack;
 * retryable failure → nak with backoff; permanent failure (bad payload, bad credential, 4xx) → the original
 * message with a reason goes to `<prefix>.dlq.<service>` and is then terminated, never silently dropped.
 *
 * A batch message (`<topic>.batch`, the hop's HTTP batch body) is authenticated once and handed whole to the
 * handler of that pattern, which answers one outcome per event (EventBatchOutcome, as the batch route would). Each
 * event is settled on its own: a refused one (4xx) goes to the dead-letter subject alone, as the single message it
 * would have been, and the others stay delivered; if any may succeed later (5xx, 429) the message is redelivered
 * whole with backoff, and the events already stored are replays the receiver answers from its dedup.
 *
 * `listen` returns at once and connects in the background, so the service serves HTTP while NATS is down.
 */
export class JetStreamServer extends Server implements CustomTransportStrategy {
  private readonly link: NatsLinkManager;
  private readonly log: Logger;
  private readonly operation: Operation;
  private readonly maxDeliver: number;
  private readonly ackWaitMs: number;
  private readonly concurrency: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly inFlight = new Set<Promise<void>>();
  private messages?: ConsumerMessages;
  private running?: Promise<void>;
  private closed = false;
  private wake?: () => void;

  constructor(private readonly options: JetStreamServerOptions) {
    super();
    this.link = new NatsLinkManager(options.settings, `${options.service}-consumer`);
    this.log = new Logger(`JetStreamServer(${options.service})`);
    this.operation = options.operation ?? 'write';
    this.maxDeliver = options.maxDeliver ?? 20;
    this.ackWaitMs = options.ackWaitMs ?? 30_000;
    this.concurrency = options.concurrency ?? 16;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    initJetStreamMetrics(options.service);
  }

  get durableName(): string {
    return this.options.service;
  }

  get filterSubject(): string {
    return `${this.options.settings.subjectPrefix}.${this.options.service}.>`;
  }

  listen(callback: () => void): void {
    this.running = this.run();
    callback();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    // While NATS is down the run loop waits on the connection: stop that, but keep a live connection for the acks below.
    this.link.stopConnecting();
    await this.messages?.close().catch(() => undefined);
    await this.running;
    await Promise.allSettled([...this.inFlight]);
    await this.link.close();
  }

  on(): never {
    throw new Error('JetStreamServer has no status events; see its log');
  }

  unwrap<T>(): T {
    const nc = this.link.connected;
    if (!nc) throw new Error('JetStreamServer is not connected');
    return nc as T;
  }

  /** Connect, ensure the durable consumer, consume; on any failure start over after a pause. */
  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        const link = await this.link.get();
        if (this.closed) return;
        await this.ensureConsumer(link.jsm);
        const consumer = await link.js.consumers.get(this.options.settings.stream, this.durableName);
        this.messages = await consumer.consume({ max_messages: this.concurrency * 2 });
        // close() came while the consumer was being set up: it found no messages to stop, so stop them here (or the
        // loop below would wait on them, and close() on this loop, for good). Their close settles once the loop has
        // ended, so it is not awaited: the loop ends at once.
        if (this.closed) void this.messages.close().catch(() => undefined);
        this.log.log(`consuming ${this.filterSubject} from stream ${this.options.settings.stream} as ${this.durableName}`);
        for await (const msg of this.messages) {
          while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
          const task: Promise<void> = this.handle(link, msg).finally(() => this.inFlight.delete(task));
          this.inFlight.add(task);
        }
      } catch (error) {
        if (this.closed) return;
        this.log.warn(`consumer stopped (${(error as Error).message}); restarting`);
      }
      if (!this.closed) await this.pause(1000);
    }
  }

  private async ensureConsumer(jsm: JetStreamManager): Promise<void> {
    const config: Partial<ConsumerConfig> = {
      durable_name: this.durableName,
      filter_subject: this.filterSubject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.ackWaitMs),
      // Room past the last delivery the server settles (maxDeliver): if that one cannot store its dead letters (or
      // the process dies during it), JetStream still redelivers the message and the settlement runs again.
      max_deliver: this.maxDeliver + SETTLEMENT_REDELIVERIES,
      max_ack_pending: Math.max(1000, this.concurrency * 4),
    };
    try {
      await jsm.consumers.info(this.options.settings.stream, this.durableName);
      await jsm.consumers.update(this.options.settings.stream, this.durableName, {
        filter_subject: config.filter_subject,
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        max_ack_pending: config.max_ack_pending,
      });
    } catch (error) {
      if (apiErrorCode(error) !== CONSUMER_NOT_FOUND) throw error;
      await jsm.consumers.add(this.options.settings.stream, config);
    }
  }

  private async handle(link: NatsLink, msg: JsMsg): Promise<void> {
    const headers = headerRecord(msg.headers);
    const topic = msg.subject.slice(this.options.settings.subjectPrefix.length + 1);
    try {
      await runInTraceContext(
        headers,
        `${msg.subject} process`,
        SpanKind.CONSUMER,
        async (span) => {
          const hop = hopOfEventBatchTopic(topic);
          const disposition = hop === undefined ? await this.process(msg, topic, headers) : await this.processBatch(msg, topic, headers);
          span.setAttribute('messaging.nats.disposition', disposition.action);
          if (disposition.action === 'events') await this.settleEvents(link, msg, headers, hop as string, disposition);
          else await this.settle(link, msg, headers, hop ?? topic, disposition);
        },
        {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': msg.subject,
          'messaging.consumer.group.name': this.durableName,
          'messaging.nats.stream_sequence': msg.info.streamSequence,
          'messaging.nats.delivery_count': msg.info.deliveryCount,
        },
      );
    } catch (error) {
      // settle() itself failed (e.g. the dead-letter publish): leave the message to its ack timeout.
      this.log.error({ msg: 'message left unsettled', subject: msg.subject, stream_seq: msg.info.streamSequence, reason: (error as Error).message });
    }
  }

  private async process(msg: JsMsg, topic: string, headers: Record<string, string>): Promise<MessageDisposition> {
    try {
      const handler = this.getHandlerByPattern(topic);
      if (!handler) throw new JetStreamRejection(`no_handler: nothing handles ${topic}`);
      const payload = parsePayload(msg.data);
      const requester = await this.authenticate(headers, msg);
      const context = new JetStreamContext([msg.subject, headers, msg, requester]);
      await lastValueFrom(this.transformToObservable(await handler(payload, context)), { defaultValue: undefined });
      return { action: 'ack' };
    } catch (error) {
      return dispositionForError(error);
    }
  }

  /**
   * A batch message: the envelope checked as the HTTP batch route checks it, the token once, then the handler's
   * outcome per event. A failure of the message itself (no handler, bad envelope or credential, the handler throwing)
   * concerns every event: it is settled like a single message's.
   */
  private async processBatch(msg: JsMsg, topic: string, headers: Record<string, string>): Promise<BatchDisposition> {
    try {
      const handler = this.getHandlerByPattern(topic);
      // A receiver of an earlier release has no batch handler yet: retried (until max_deliver), not refused for
      // good, so receivers upgraded after their producers catch up. Deploy receivers first.
      if (!handler) throw new Error(`no_handler: nothing handles ${topic} yet`);
      const payload = parseJson(msg.data);
      const envelope = eventBatchErrors(payload);
      if (envelope.length > 0) throw new JetStreamRejection(`validation_failed: ${describeFieldErrors(envelope)}`);
      const items = (payload as { events: EventBatchItem[] }).events;
      const requester = await this.authenticate(headers, msg);
      // What the single path refuses before validation (U+0000, lone surrogates, deep nesting), per event: one such
      // body is a 422 for itself, and its neighbours go on.
      const verdicts: MessageDisposition[] = new Array(items.length);
      const passed: number[] = [];
      items.forEach((item, index) => {
        const unstorable = findUnstorableJson(item.body, MAX_JSON_DEPTH);
        if (unstorable.length === 0) passed.push(index);
        else verdicts[index] = { action: 'reject', reason: `422 validation_failed: ${describeFieldErrors(unstorable)}` };
      });
      if (passed.length > 0) {
        const context = new JetStreamContext([msg.subject, headers, msg, requester]);
        const events = passed.length === items.length ? items : passed.map((index) => items[index]);
        const outcomes: unknown = await lastValueFrom(this.transformToObservable(await handler({ events }, context)), { defaultValue: undefined });
        if (!Array.isArray(outcomes) || outcomes.length !== events.length) {
          throw new Error(`the handler of ${topic} answered ${Array.isArray(outcomes) ? outcomes.length : 'no'} outcomes for ${events.length} events`);
        }
        passed.forEach((index, k) => (verdicts[index] = verdictOf(outcomes[k] as EventBatchOutcome)));
      }
      return { action: 'events', items, verdicts };
    } catch (error) {
      return dispositionForError(error);
    }
  }

  private async authenticate(headers: Record<string, string>, msg: JsMsg): Promise<VerifiedRequester> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(headers['authorization'] ?? '');
    if (!match) throw new JetStreamRejection('unauthenticated: the message carries no bearer token');
    // The token was valid when JetStream stored the message; a receiver that was down meanwhile must not refuse it.
    const storedAtMs = Math.floor(msg.info.timestampNanos / 1e6);
    const verifier = new TokenVerifier(this.options.keys, this.options.policy, this.options.service, { now: () => storedAtMs });
    let requester: VerifiedRequester & { id: RequesterId };
    try {
      requester = await verifier.verify(match[1]);
    } catch (error) {
      if (error instanceof TokenVerificationError) throw new JetStreamRejection(`unauthenticated: ${error.message}`);
      throw error;
    }
    if (!this.options.policy.isAllowed(this.options.service, requester.id, this.operation)) {
      throw new JetStreamRejection(`forbidden: requester ${requester.id} may not ${this.operation} on ${this.options.service}`);
    }
    await this.refuseReplay(requester, msg);
    return requester;
  }

  /**
   * A token carried by one message is single-use like an HTTP write's: its jti is claimed with the message's
   * stream sequence as binding, so redeliveries of that message pass and any other message with the same
   * token (a replay) is dead-lettered. The record outlives the token by its whole lifetime counted from now,
   * since a message may be consumed long after it was stored.
   */
  private async refuseReplay(requester: VerifiedRequester, msg: JsMsg): Promise<void> {
    if (!this.options.replay || !isReplayProtected(this.operation) || requester.tokenId === undefined) return;
    const expiresAt = new Date(Date.now() + (MAX_TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000);
    const binding = `${this.options.settings.stream}:${msg.info.streamSequence}`;
    if (!(await this.options.replay.claim({ issuer: requester.id, jti: requester.tokenId, expiresAt, binding }))) {
      throw new JetStreamRejection(`unauthenticated: token ${requester.tokenId} was already used by another message (replay)`);
    }
  }

  /** A message settled whole; `hop` (the hop it carries, a batch message's included) labels the metrics. */
  private async settle(link: NatsLink, msg: JsMsg, headers: Record<string, string>, hop: string, disposition: MessageDisposition): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    if (disposition.action === 'ack') {
      msg.ack();
      recordJetStreamEvents(hop, 'delivered');
      return;
    }
    const context = { subject: msg.subject, stream_seq: msg.info.streamSequence, deliveries, trace_id: currentTraceId() };
    if (disposition.action === 'retry' && deliveries < this.maxDeliver) {
      const delay = this.retryDelayMs(deliveries);
      this.log.warn({ msg: 'message will be redelivered', ...context, reason: disposition.reason, retry_in_ms: delay });
      msg.nak(delay);
      recordJetStreamEvents(hop, 'retry');
      return;
    }
    const reason = disposition.action === 'retry' ? `max_deliver_exceeded: ${disposition.reason}` : disposition.reason;
    try {
      await this.deadLetter(link, msg, headers, reason);
    } catch (error) {
      // Not terminated unless the copy is safely stored: try the whole message again later.
      this.log.error({ msg: 'dead-letter publish failed; message will be redelivered', ...context, reason, error: (error as Error).message });
      msg.nak(this.retryDelayMs(deliveries));
      recordJetStreamEvents(hop, 'retry');
      return;
    }
    msg.term(reason.slice(0, 200));
    recordJetStreamEvents(hop, 'dead');
    // A terminated message would otherwise stay in the work-queue stream for good; its copy is in the DLQ.
    await link.jsm.streams.deleteMessage(this.options.settings.stream, msg.info.streamSequence, false).catch(() => undefined);
    this.log.error({ msg: 'message dead-lettered', ...context, reason, dead_letter_subject: deadLetterSubject(this.options.settings, this.options.service) });
  }

  /**
   * A batch message's events, each settled on its own. While any may succeed later and deliveries are left, the
   * whole message is redelivered (the refused ones are dead-lettered only when the message is done, so once). Then
   * every event not delivered goes to the dead-letter subject alone (the single message of its hop it would have
   * been: its body, its trace context) and the message is acknowledged; if a copy cannot be stored, the message is
   * redelivered instead (the copies' message ids keep a second one out).
   */
  private async settleEvents(link: NatsLink, msg: JsMsg, headers: Record<string, string>, hop: string, batch: EventsDisposition): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    const context = { subject: msg.subject, stream_seq: msg.info.streamSequence, deliveries, events: batch.items.length, trace_id: currentTraceId() };
    const retrying = batch.verdicts.filter((v): v is MessageDisposition & { action: 'retry' } => v.action === 'retry');
    if (retrying.length > 0 && deliveries < this.maxDeliver) {
      const delay = this.retryDelayMs(deliveries);
      this.log.warn({ msg: 'batch message will be redelivered', ...context, retrying: retrying.length, reason: retrying[0].reason, retry_in_ms: delay });
      msg.nak(delay);
      recordJetStreamEvents(hop, 'retry', retrying.length);
      return;
    }
    const subject = subjectFor(this.options.settings, hop);
    const undelivered = batch.verdicts.filter((v) => v.action !== 'ack').length;
    try {
      for (const [index, verdict] of batch.verdicts.entries()) {
        if (verdict.action === 'ack') continue;
        const reason = verdict.action === 'retry' ? `max_deliver_exceeded: ${verdict.reason}` : verdict.reason;
        const item = batch.items[index];
        const traceHeaders = { traceparent: item.traceparent, tracestate: item.tracestate };
        await this.deadLetter(link, msg, { ...headers, ...traceHeaders }, reason, { subject, data: Buffer.from(JSON.stringify(item.body)), index });
        this.log.error({ msg: 'event of a batch message dead-lettered', ...context, index, reason, dead_letter_subject: deadLetterSubject(this.options.settings, this.options.service) });
      }
    } catch (error) {
      this.log.error({ msg: 'dead-letter publish failed; batch message will be redelivered', ...context, error: (error as Error).message });
      msg.nak(this.retryDelayMs(deliveries));
      recordJetStreamEvents(hop, 'retry', undelivered);
      return;
    }
    msg.ack();
    recordJetStreamEvents(hop, 'delivered', batch.verdicts.length - undelivered);
    recordJetStreamEvents(hop, 'dead', undelivered);
  }

  /** Publishes a copy of a message (or of one event of a batch message, `event`) with the reason to the dead-letter subject. */
  private async deadLetter(
    link: NatsLink,
    msg: JsMsg,
    headers: Record<string, string | undefined>,
    reason: string,
    event?: { subject: string; data: Uint8Array; index: number },
  ): Promise<void> {
    const copy = natsHeaders();
    for (const [name, value] of Object.entries(headers)) {
      // The bearer token is a credential; a replay needs a fresh one anyway.
      // A header value cannot hold a line break (a sender's traceparent could): such a value is left out.
      if (name !== 'authorization' && value !== undefined && !/[\r\n]/.test(value)) copy.set(name, value);
    }
    copy.set(DLQ_HEADERS.reason, reason.replace(/[\r\n]+/g, ' '));
    copy.set(DLQ_HEADERS.subject, event?.subject ?? msg.subject);
    copy.set(DLQ_HEADERS.streamSequence, String(msg.info.streamSequence));
    copy.set(DLQ_HEADERS.deliveries, String(msg.info.deliveryCount));
    if (event) copy.set(DLQ_HEADERS.batchIndex, String(event.index));
    await link.js.publish(deadLetterSubject(this.options.settings, this.options.service), event?.data ?? msg.data, {
      headers: copy,
      // Once per original message (or event of it), even if it is dead-lettered twice (a lost term or ack).
      msgID: `dlq:${this.options.service}:${msg.info.streamSequence}${event ? `:${event.index}` : ''}`,
      expect: { streamName: this.options.settings.stream },
    });
  }

  private retryDelayMs(deliveries: number): number {
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(deliveries - 1, 20));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** A batch message's events, each with its own verdict (delivered, worth another delivery, or refused for good). */
type EventsDisposition = { action: 'events'; items: readonly EventBatchItem[]; verdicts: MessageDisposition[] };
type BatchDisposition = MessageDisposition | EventsDisposition;

/** The verdict on one event from the outcome its batch handler answered (the status its single route would have). */
function verdictOf(outcome: EventBatchOutcome): MessageDisposition {
  const status = Number(outcome?.status);
  if (status >= 200 && status < 300) return { action: 'ack' };
  if (!Number.isFinite(status)) return { action: 'retry', reason: 'no status: the handler answered an outcome without one' };
  return dispositionForStatus(status, outcome.body, 'no message');
}

/** NATS headers as a plain record with lower-case names (the trace propagator and the verifier read it). */
export function headerRecord(headers: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const name of headers.keys()) out[name.toLowerCase()] = headers.get(name);
  return out;
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    throw new JetStreamRejection('malformed_payload: the message body is not JSON');
  }
}

function parsePayload(data: Uint8Array): unknown {
  const payload = parseJson(data);
  // What the HTTP app refuses before validation (U+0000, lone surrogates, deep nesting) is refused here too.
  const unstorable = findUnstorableJson(payload, MAX_JSON_DEPTH);
  if (unstorable.length > 0) throw new JetStreamRejection(`validation_failed: ${describeFieldErrors(unstorable)}`);
  return payload;
}

function describeFieldErrors(errors: readonly { field: string; messages: readonly string[] }[]): string {
  return errors.map((e) => `${e.field}: ${e.messages.join('; ')}`).join(', ');
}
