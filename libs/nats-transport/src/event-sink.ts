import { EVENT_HOPS, type EventHopBodies, type EventHopTopic, type TokenSource } from '@pancha/contracts';
import { OutboxDeliveryError } from '@pancha/outbox';
import { JetStreamPublisher } from './jetstream.publisher';
import { natsSettings, type NatsEnv } from './nats.config';

/** How one app sends one event hop over HTTP: the typed client call (its errors keep their retry verdict). */
export type HttpEventRoutes<T extends EventHopTopic> = { [K in T]: (body: EventHopBodies[K]) => Promise<unknown> };

/**
 * Where an app's outbox handlers send their event hops. Chosen once per app by createEventSink (JetStream when
 * NATS_URL is set, HTTP otherwise), so no handler branches on the transport. A failure keeps its verdict
 * (retryable or not) for the outbox relay.
 */
export abstract class EventSink<T extends EventHopTopic = EventHopTopic> {
  abstract readonly transport: 'http' | 'jetstream';
  /** Resolves once the receiver has the event (HTTP 2xx) or the stream has persisted it (PubAck). */
  abstract send<K extends T>(topic: K, messageKey: string, body: EventHopBodies[K]): Promise<void>;
  /** Call after the outbox relay has stopped (onApplicationShutdown). */
  abstract close(): Promise<void>;
}

export class HttpEventSink<T extends EventHopTopic> extends EventSink<T> {
  readonly transport = 'http';

  constructor(private readonly routes: HttpEventRoutes<T>) {
    super();
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
 */
export class JetStreamEventSink<T extends EventHopTopic> extends EventSink<T> {
  readonly transport = 'jetstream';

  constructor(readonly publisher: JetStreamPublisher) {
    super();
  }

  async send<K extends T>(topic: K, messageKey: string, body: EventHopBodies[K]): Promise<void> {
    await this.publisher.publish({ topic, audience: EVENT_HOPS[topic].receiver, messageKey, payload: body });
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
  /** Connection name shown by the NATS server. */
  name: string;
}

/** The one place an app chooses its event transport. */
export function createEventSink<T extends EventHopTopic>(options: EventSinkOptions<T>): EventSink<T> {
  const settings = natsSettings(options.config);
  if (!settings) return new HttpEventSink(options.http);
  return new JetStreamEventSink(new JetStreamPublisher(settings, options.tokens, { name: options.name }));
}
