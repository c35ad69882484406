import type { ServiceName, TokenSource } from '@pancha/contracts';
import { OutboxDeliveryError } from '@pancha/outbox';
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

  async publish(input: JetStreamPublishInput): Promise<PubAck> {
    const subject = subjectFor(this.settings, input.topic);
    const msgID = JetStreamPublisher.messageId(input.topic, input.messageKey);
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
        },
      },
      async (span) => {
        try {
          const { js } = await withTimeout(this.link.get(), this.timeoutMs, 'NATS is not connected');
          const headers = natsHeaders();
          // Injected while the publish span is active: the consumer's span becomes its child.
          for (const [name, value] of Object.entries(injectTraceHeaders())) headers.set(name, value);
          headers.set('authorization', `Bearer ${await this.tokens.tokenFor(input.audience)}`);
          const ack = await js.publish(subject, Buffer.from(JSON.stringify(input.payload)), {
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

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
