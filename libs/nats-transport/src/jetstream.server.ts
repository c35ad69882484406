import { Logger } from '@nestjs/common';
import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { MAX_JSON_DEPTH, type RequesterId, type ServiceName } from '@pancha/contracts';
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
import { JetStreamContext } from './jetstream.context';
import { dispositionForError, JetStreamRejection, type MessageDisposition } from './message-disposition';
import { NatsLinkManager, type NatsLink } from './nats-link';
import { deadLetterSubject, type NatsSettings } from './nats.config';

/** Headers added to a dead-lettered copy. */
export const DLQ_HEADERS = {
  reason: 'pancha-dlq-reason',
  subject: 'pancha-dlq-subject',
  streamSequence: 'pancha-dlq-stream-seq',
  deliveries: 'pancha-dlq-deliveries',
} as const;

const CONSUMER_NOT_FOUND = 10014;

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
      max_deliver: this.maxDeliver,
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
          const disposition = await this.process(msg, topic, headers);
          span.setAttribute('messaging.nats.disposition', disposition.action);
          await this.settle(link, msg, headers, disposition);
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

  private async settle(link: NatsLink, msg: JsMsg, headers: Record<string, string>, disposition: MessageDisposition): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    if (disposition.action === 'ack') {
      msg.ack();
      return;
    }
    const context = { subject: msg.subject, stream_seq: msg.info.streamSequence, deliveries, trace_id: currentTraceId() };
    if (disposition.action === 'retry' && deliveries < this.maxDeliver) {
      const delay = this.retryDelayMs(deliveries);
      this.log.warn({ msg: 'message will be redelivered', ...context, reason: disposition.reason, retry_in_ms: delay });
      msg.nak(delay);
      return;
    }
    const reason = disposition.action === 'retry' ? `max_deliver_exceeded: ${disposition.reason}` : disposition.reason;
    try {
      await this.deadLetter(link, msg, headers, reason);
    } catch (error) {
      // Not terminated unless the copy is safely stored: try the whole message again later.
      this.log.error({ msg: 'dead-letter publish failed; message will be redelivered', ...context, reason, error: (error as Error).message });
      msg.nak(this.retryDelayMs(deliveries));
      return;
    }
    msg.term(reason.slice(0, 200));
    // A terminated message would otherwise stay in the work-queue stream for good; its copy is in the DLQ.
    await link.jsm.streams.deleteMessage(this.options.settings.stream, msg.info.streamSequence, false).catch(() => undefined);
    this.log.error({ msg: 'message dead-lettered', ...context, reason, dead_letter_subject: deadLetterSubject(this.options.settings, this.options.service) });
  }

  private async deadLetter(link: NatsLink, msg: JsMsg, headers: Record<string, string>, reason: string): Promise<void> {
    const copy = natsHeaders();
    for (const [name, value] of Object.entries(headers)) {
      // The bearer token is a credential; a replay needs a fresh one anyway.
      if (name !== 'authorization') copy.set(name, value);
    }
    copy.set(DLQ_HEADERS.reason, reason.replace(/[\r\n]+/g, ' '));
    copy.set(DLQ_HEADERS.subject, msg.subject);
    copy.set(DLQ_HEADERS.streamSequence, String(msg.info.streamSequence));
    copy.set(DLQ_HEADERS.deliveries, String(msg.info.deliveryCount));
    await link.js.publish(deadLetterSubject(this.options.settings, this.options.service), msg.data, {
      headers: copy,
      // Once per original message, even if this one is dead-lettered twice (a lost term).
      msgID: `dlq:${this.options.service}:${msg.info.streamSequence}`,
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

/** NATS headers as a plain record with lower-case names (the trace propagator and the verifier read it). */
export function headerRecord(headers: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const name of headers.keys()) out[name.toLowerCase()] = headers.get(name);
  return out;
}

function parsePayload(data: Uint8Array): unknown {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    throw new JetStreamRejection('malformed_payload: the message body is not JSON');
  }
  // What the HTTP app refuses before validation (U+0000, lone surrogates, deep nesting) is refused here too.
  const unstorable = findUnstorableJson(payload, MAX_JSON_DEPTH);
  if (unstorable.length > 0) {
    throw new JetStreamRejection(`validation_failed: ${unstorable.map((e) => `${e.field}: ${e.messages.join('; ')}`).join(', ')}`);
  }
  return payload;
}
