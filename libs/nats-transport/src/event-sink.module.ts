import { type DynamicModule, type InjectionToken, Injectable, Module, type OnApplicationShutdown, type Type } from '@nestjs/common';
import type { EventHopBodies, EventHopTopic } from '@pancha/contracts';
import { TokenIssuer } from '@pancha/governance';
import { batchItemsOf, messageKeysOf, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
import { createEventSink, EventSink, type HttpEventBatchRoutes, type HttpEventRoutes } from './event-sink';
import type { NatsEnv } from './nats.config';

/** What an app declares about its event sink; everything else (transport choice, shutdown) is the module's. */
export interface EventSinkModuleOptions<T extends EventHopTopic> {
  /** Connection name shown by the NATS server (`<app>-events`). */
  name: string;
  /** The app's validated config: NATS_URL set → JetStream, unset → HTTP. */
  config: NatsEnv;
  /**
   * Each hop's HTTP call (used without NATS_URL), built once from the app's TokenIssuer and the providers
   * listed in `inject` (an app's own typed clients, when it has them as providers).
   */
  http: (tokens: TokenIssuer, ...injected: never[]) => HttpEventRoutes<T> | { send: HttpEventRoutes<T>; batch: HttpEventBatchRoutes<T> };
  inject?: InjectionToken[];
}

/**
 * Provides the app's one `EventSink` (injected by that class) to the outbox handlers: pass it in
 * `OutboxModule.forRoot({ imports: [EventSinkModule.forRoot(…)] })`. It is closed on application shutdown, which
 * comes after the outbox relay has stopped (its beforeApplicationShutdown), so pending publishes finish first.
 */
@Module({})
export class EventSinkModule implements OnApplicationShutdown {
  constructor(private readonly sink: EventSink) {}

  static forRoot<T extends EventHopTopic>(options: EventSinkModuleOptions<T>): DynamicModule {
    return {
      module: EventSinkModule,
      providers: [
        {
          provide: EventSink,
          useFactory: (tokens: TokenIssuer, ...injected: never[]) => {
            const routes = options.http(tokens, ...injected);
            const [http, httpBatch] = isWithBatch(routes) ? [routes.send, routes.batch] : [routes, undefined];
            return createEventSink<T>({ config: options.config, tokens, name: options.name, http, httpBatch });
          },
          inject: [TokenIssuer, ...(options.inject ?? [])],
        },
      ],
      exports: [EventSink],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sink.close();
  }
}

function isWithBatch<T extends EventHopTopic>(
  routes: HttpEventRoutes<T> | { send: HttpEventRoutes<T>; batch: HttpEventBatchRoutes<T> },
): routes is { send: HttpEventRoutes<T>; batch: HttpEventBatchRoutes<T> } {
  return typeof (routes as { send?: unknown }).send === 'object';
}

/**
 * The outbox handler of one event hop whose stored payload is the hop's body: it sends the row as stored through
 * the app's EventSink (HTTP or JetStream, the same body; the event id was fixed at enqueue, so the receiver
 * deduplicates a redelivery). A failure keeps its verdict for the relay. When the sink has a batch call for the
 * hop, the relay's batches go in one request, each event answered on its own. An app lists one per topic:
 * `OutboxModule.forRoot({ handlers: [EventHopHandler(EventTopic.CoreKarmaEvent)], imports: [sinkModule] })`.
 * `ordersBatch` (OutboxHandler.ordersBatch) only for a receiver whose batch route applies its events in the order
 * sent and refuses one only for itself with a 4xx: Bucket's write-events route does.
 */
export function EventHopHandler<K extends EventHopTopic>(topic: K, options: { ordersBatch?: boolean } = {}): Type<OutboxHandler & { readonly topic: K }> {
  @Injectable()
  class EventHopHandlerHost implements OutboxHandler {
    readonly topic = topic;
    readonly deliverBatch?: OutboxHandler['deliverBatch'];
    readonly ordersBatch = options.ordersBatch === true;

    constructor(private readonly events: EventSink) {
      const batch = events.batchRoute(topic);
      if (batch) this.deliverBatch = (messages) => batch(batchItemsOf<EventHopBodies[K]>(messages), messageKeysOf(messages));
    }

    async deliver(message: OutboxMessage): Promise<void> {
      await this.events.send(topic, message.messageKey, message.payload as EventHopBodies[K]);
    }
  }
  // Each call is its own provider class; the name tells them apart in Nest's errors and logs.
  Object.defineProperty(EventHopHandlerHost, 'name', { value: `EventHopHandler(${topic})` });
  return EventHopHandlerHost;
}
