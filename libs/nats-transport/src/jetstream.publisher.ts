import { eventBatchTopic, MAX_EVENT_BATCH, type EventBatchItem, type EventHopTopic, type ServiceName, type TokenSource } from '@pancha/contracts';
import { OutboxDeliveryError, type OutboxBatchResult } from '@pancha/outbox';
import { createHash } from 'node:crypto';
import { getTracer, injectTraceHeaders, SpanKind, SpanStatusCode } from '@pancha/trace-context';
import { headers as natsHeaders, type PubAck } from 'nats';
import { NatsLinkManager } from './nats-link';
import { subjectFor, type NatsSettings } from './nats.config';

export interface JetStreamPublishInput {
  /** The outbox topic, e.g. `bucket.workflow-event`; the subject is `<prefix>.<topic>`. */
  topic: string;
  /** The receiving service: the audience of the bearer token sent with the message. */
  audience: ServiceName;
  /** The outbox message key; with the topic it is the JetStream Nats-Msg-Id. */
  messageKey: string;
  /** The body the receiver's HTTP endpoint would get; sent as JSON. */
  payload: unknown;
}

export interface JetStreamBatchPublishInput {
  /** The hop; the batch goes to `<prefix>.<topic>.batch` (eventBatchTopic). */
  topic: EventHopTopic;
  /** The receiving service: the audience of the one bearer token sent with each message. */
  audience: ServiceName;
  /** One per item, in order: the outbox message keys (they name the message for JetStream's duplicate window). */
  messageKeys: readonly string[];
  /** The hop's batch body's events: each its body and the trace context of its own delivery. */
  items: readonly EventBatchItem[];
}

export interface JetStreamPublisherOptions {
  /** Connection name shown by the NATS server (default `pancha-publisher`). */
  name?: string;
  /** How long a publish waits for the connection and then for the stream's PubAck (default 5000 ms each). */
  timeoutMs?: number;
}

/**
 * Publishes outbox messages to JetStream. A publish resolves only with the stream's PubAck (the message is
 * persisted), so the outbox marks the row delivered only then; every failure is a retryable
 * OutboxDeliveryError and the outbox backs off. The msgID makes a retried publish a no-op within the
 * stream's duplicate window; the receiver's event-id dedup covers the rest.
 */
export class JetStreamPublisher {
  private readonly link: NatsLinkManager;
  private readonly timeoutMs: number;

  constructor(
    readonly settings: NatsSettings,
    private readonly tokens: TokenSource,
    options: JetStreamPublisherOptions = {},
  ) {
    this.link = new NatsLinkManager(settings, options.name ?? 'pancha-publisher');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Nats-Msg-Id for a message: outbox keys are unique per topic only (the executor uses one key for two topics). */
  static messageId(topic: string, messageKey: string): string {
    return `${topic}:${messageKey}`;
  }

  /**
   * Nats-Msg-Id of a batch message: the same keys in the same order name the same message, so a publish retried after
   * a lost PubAck is dropped by the stream's duplicate window (the receiver's event-id dedup covers any other overlap).
   */
  static batchMessageId(topic: string, messageKeys: readonly string[]): string {
    return `${topic}:batch:${createHash('sha256').update(messageKeys.join('\n')).digest('base64url')}`;
  }

  async publish(input: JetStreamPublishInput): Promise<PubAck> {
    return this.publishBody(input.topic, input.audience, JetStreamPublisher.messageId(input.topic, input.messageKey), Buffer.from(JSON.stringify(input.payload)));
  }

  /**
   * A relay's batch of one hop as few messages as the server's max_payload and the receivers' MAX_EVENT_BATCH allow
   * (usually one), each the hop's batch body with one token; answers one result per item, in order. The messages go
   * one after another: an item is delivered once its message's PubAck came, and after a failed message the later
   * items fail with it unsent (a key's rows are never recorded delivered past an earlier one that was not). One item
   * that alone exceeds max_payload still goes in a message of its own (the stream refuses it, and the relay retries
   * it and then dead-letters it, as it would a single publish).
   */
  async publishBatch(input: JetStreamBatchPublishInput): Promise<OutboxBatchResult[]> {
    const { items, messageKeys } = input;
    if (items.length !== messageKeys.length) throw new Error(`publishBatch: ${items.length} items but ${messageKeys.length} message keys`);
    const maxPayload = this.link.connected?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    const chunks = chunkBySize(items.map((item) => JSON.stringify(item)), maxPayload - BATCH_ENVELOPE_BYTES, MAX_EVENT_BATCH);
    const results: OutboxBatchResult[] = new Array(items.length);
    const topic = eventBatchTopic(input.topic);
    for (const { start, end, json } of chunks) {
      try {
        const body = Buffer.from(`{"events":[${json.join(',')}]}`);
        await this.publishBody(topic, input.audience, JetStreamPublisher.batchMessageId(topic, messageKeys.slice(start, end)), body, end - start);
        results.fill({ ok: true }, start, end);
      } catch (error) {
        results.fill({ ok: false, error }, start);
        break;
      }
    }
    return results;
  }

  private async publishBody(topic: string, audience: ServiceName, msgID: string, body: Buffer, batchSize?: number): Promise<PubAck> {
    const subject = subjectFor(this.settings, topic);
    // A child of the active context: inside the outbox relay that is the stored producer trace.
    return getTracer().startActiveSpan(
      `${subject} publish`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'publish',
          'messaging.destination.name': subject,
          'messaging.message.id': msgID,
          ...(batchSize === undefined ? {} : { 'messaging.batch.message_count': batchSize }),
        },
      },
      async (span) => {
        try {
          const { js } = await withTimeout(this.link.get(), this.timeoutMs, 'NATS is not connected');
          const headers = natsHeaders();
          // Injected while the publish span is active: the consumer's span becomes its child.
          for (const [name, value] of Object.entries(injectTraceHeaders())) headers.set(name, value);
          headers.set('authorization', `Bearer ${await this.tokens.tokenFor(audience)}`);
          const ack = await js.publish(subject, body, {
            msgID,
            headers,
            timeout: this.timeoutMs,
            expect: { streamName: this.settings.stream },
          });
          span.setAttribute('messaging.nats.stream_sequence', ack.seq);
          span.setAttribute('messaging.nats.duplicate', ack.duplicate);
          return ack;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          span.recordException(error instanceof Error ? error : new Error(message));
          span.setStatus({ code: SpanStatusCode.ERROR, message });
          throw new OutboxDeliveryError(`jetstream publish to ${subject} failed: ${message}`, { retryable: true });
        } finally {
          span.end();
        }
      },
    );
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

/** NATS's default max_payload, for a publisher not yet connected (the publish then fails and is retried anyway). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Room for `{"events":[…]}`, the commas and the headers, which count against max_payload too. */
const BATCH_ENVELOPE_BYTES = 8 * 1024;

/** Consecutive runs of at most `maxItems` serialised items whose bytes stay within `limit` (an item larger than it is a run alone). */
function chunkBySize(json: readonly string[], limit: number, maxItems: number): { start: number; end: number; json: string[] }[] {
  const chunks: { start: number; end: number; json: string[] }[] = [];
  let start = 0;
  let bytes = 0;
  json.forEach((item, index) => {
    const size = Buffer.byteLength(item) + 1;
    if (index > start && (bytes + size > limit || index - start >= maxItems)) {
      chunks.push({ start, end: index, json: json.slice(start, index) });
      start = index;
      bytes = 0;
    }
    bytes += size;
  });
  if (json.length > start) chunks.push({ start, end: json.length, json: json.slice(start) });
  return chunks;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
