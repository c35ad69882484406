import { EVENT_HOPS, type EventBatchItem, type EventHopBodies, type EventHopTopic, type TokenSource } from '@pancha/contracts';
import { OutboxDeliveryError, type OutboxBatchResult, type OutboxMessage } from '@pancha/outbox';
import { JetStreamPublisher } from './jetstream.publisher';
import { natsSettings, type NatsEnv } from './nats.config';

/** How one app sends one event hop over HTTP: the typed client call (its errors keep their retry verdict). */
export type HttpEventRoutes<T extends EventHopTopic> = { [K in T]: (body: EventHopBodies[K]) => Promise<unknown> };

/** A hop's batch call: many events of the hop in one request, answered one by one (in order). */
export type HttpEventBatchRoute<K extends EventHopTopic> = (items: readonly EventBatchItem<EventHopBodies[K]>[]) => Promise<readonly OutboxBatchResult[]>;

/**
 * How the outbox handlers send a relay's batch of one hop through the sink: the events and their outbox message keys
 * (in the same order), answered one result per event, in order. HTTP ignores the keys; JetStream names its messages by them.
 */
export type EventBatchRoute<K extends EventHopTopic> = (
  items: readonly EventBatchItem<EventHopBodies[K]>[],
  messageKeys: readonly string[],
) => Promise<readonly OutboxBatchResult[]>;

/** The hops whose receiver takes a batch over HTTP (Bucket's write-events, Karma's /v1/events). */
export type HttpEventBatchRoutes<T extends EventHopTopic> = { [K in T]?: HttpEventBatchRoute<K> };

/**
 * Where an app's outbox handlers send their event hops. Chosen once per app by createEventSink (JetStream when
 * NATS_URL is set, HTTP otherwise), so no handler branches on the transport. A failure keeps its verdict
 * (retryable or not) for the outbox relay.
 */
export abstract class EventSink<T extends EventHopTopic = EventHopTopic> {
  abstract readonly transport: 'http' | 'jetstream';
  /** Resolves once the receiver has the event (HTTP 2xx) or the stream has persisted it (PubAck). */
  abstract send<K extends T>(topic: K, messageKey: string, body: EventHopBodies[K]): Promise<void>;
  /**
   * The hop's batch call when this transport has one (HTTP to a receiver with a batch route; JetStream for every
   * hop), else undefined and events go one by one through `send`.
   */
  batchRoute<K extends T>(_topic: K): EventBatchRoute<K> | undefined {
    return undefined;
  }
  /** Call after the outbox relay has stopped (onApplicationShutdown). */
  abstract close(): Promise<void>;
}

export class HttpEventSink<T extends EventHopTopic> extends EventSink<T> {
  readonly transport = 'http';

  constructor(
    private readonly routes: HttpEventRoutes<T>,
    private readonly batches: HttpEventBatchRoutes<T> = {},
  ) {
    super();
  }

  override batchRoute<K extends T>(topic: K): EventBatchRoute<K> | undefined {
    return this.batches[topic] as HttpEventBatchRoute<K> | undefined;
  }

  async send<K extends T>(topic: K, _messageKey: string, body: EventHopBodies[K]): Promise<void> {
    const route = this.routes[topic];
    // Only reachable when an app registers a handler for a hop its sink does not declare: a wiring fault that no
    // retry mends, so the row is dead-lettered with this reason rather than retried for ever.
    if (typeof route !== 'function') throw new OutboxDeliveryError(`no HTTP route for ${topic} in this app's event sink`, { retryable: false });
    await route(body);
  }

  async close(): Promise<void> {
    return undefined;
  }
}

/**
 * Publishes to `<prefix>.<topic>` with a token for the hop's receiver (EVENT_HOPS) and Nats-Msg-Id
 * `<topic>:<messageKey>`; the receiver's JetStream consumer takes it with the same DTO and service method as HTTP.
 * A relay's batch goes as one message to `<prefix>.<topic>.batch` (JetStreamPublisher.publishBatch), which the
 * receiver handles with its batch method, as its HTTP batch route would.
 */
export class JetStreamEventSink<T extends EventHopTopic> extends EventSink<T> {
  readonly transport = 'jetstream';

  constructor(readonly publisher: JetStreamPublisher) {
    super();
  }

  async send<K extends T>(topic: K, messageKey: string, body: EventHopBodies[K]): Promise<void> {
    await this.publisher.publish({ topic, audience: EVENT_HOPS[topic].receiver, messageKey, payload: body });
  }

  override batchRoute<K extends T>(topic: K): EventBatchRoute<K> {
    return (items, messageKeys) => this.publisher.publishBatch({ topic, audience: EVENT_HOPS[topic].receiver, messageKeys, items });
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}

export interface EventSinkOptions<T extends EventHopTopic> {
  /** The app's validated config: NATS_URL set → JetStream, unset → HTTP. */
  config: NatsEnv;
  /** Signs the JetStream messages (a token for each hop's receiver). */
  tokens: TokenSource;
  /** The HTTP call of every hop the app sends (used without NATS_URL). */
  http: HttpEventRoutes<T>;
  /** The batch calls of the hops whose receiver has a batch route (used without NATS_URL). */
  httpBatch?: HttpEventBatchRoutes<T>;
  /** Connection name shown by the NATS server. */
  name: string;
}

/** The one place an app chooses its event transport. */
export function createEventSink<T extends EventHopTopic>(options: EventSinkOptions<T>): EventSink<T> {
  const settings = natsSettings(options.config);
  if (!settings) return new HttpEventSink(options.http, options.httpBatch);
  return new JetStreamEventSink(new JetStreamPublisher(settings, options.tokens, { name: options.name }));
}
