import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import type { ServiceName } from '@pancha/contracts';
import { KeyStore, PolicyService, TokenReplayStore } from '@pancha/governance';
import { JetStreamServer, type JetStreamServerOptions } from './jetstream.server';
import { natsSettings, type NatsEnv } from './nats.config';

export interface JetStreamConsumerModuleOptions {
  service: ServiceName;
  /** The app's validated config (NATS_URL, NATS_STREAM). Without NATS_URL there is no server. */
  config: NatsEnv;
  /** Tuning (tests use short delays). */
  server?: Partial<Omit<JetStreamServerOptions, 'settings' | 'service' | 'keys' | 'policy' | 'replay'>>;
}

/**
 * This app's JetStreamServer, or none when NATS_URL is unset. Always provided, so looking it up never fails
 * (a failed `app.get` in a NestFactory app aborts the process).
 */
export class JetStreamConsumerHost {
  constructor(readonly server: JetStreamServer | undefined) {}
}

/**
 * Builds this service's JetStreamServer when NATS_URL is set (keys and policy come from governance).
 * `connectJetStream(app)` attaches it to the app as a hybrid microservice; the @EventPattern handlers live in
 * the feature modules, next to the HTTP controllers whose services they call.
 */
@Module({})
export class JetStreamConsumerModule {
  static forRoot(options: JetStreamConsumerModuleOptions): DynamicModule {
    const settings = natsSettings(options.config);
    return {
      module: JetStreamConsumerModule,
      global: true,
      providers: [
        {
          provide: JetStreamConsumerHost,
          useFactory: (keys: KeyStore, policy: PolicyService, replay: TokenReplayStore) =>
            new JetStreamConsumerHost(
              settings && new JetStreamServer({ ...options.server, settings, service: options.service, keys, policy, replay }),
            ),
          inject: [KeyStore, PolicyService, TokenReplayStore],
        },
      ],
      exports: [JetStreamConsumerHost],
    };
  }
}

/**
 * Attaches the app's JetStreamServer (if NATS_URL is set) as a hybrid microservice; HTTP is still served.
 * Needs JetStreamConsumerModule in the app. Call before `app.startAllMicroservices()`; service-kit's
 * bootstrapService does both with `{ microservices: connectJetStream }`. Returns whether a server was attached.
 */
export function connectJetStream(app: INestApplication): boolean {
  const { server } = app.get(JetStreamConsumerHost, { strict: false });
  if (!server) return false;
  // Not inheriting the HTTP app's global guard, pipes and filters: the server authenticates each message
  // itself (expiry judged at the message's timestamp) and @JetStreamConsumer() binds pipes and filter.
  app.connectMicroservice({ strategy: server }, { inheritAppConfig: false });
  return true;
}
