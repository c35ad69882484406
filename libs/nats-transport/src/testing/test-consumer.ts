import type { INestApplication, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { ServiceName } from '@pancha/contracts';
import { type KeyStore, PolicyService, type TokenReplayStore } from '@pancha/governance';
import { JetStreamServer } from '../jetstream.server';
import type { TestStream } from './test-stream';

export interface TestConsumerOptions {
  stream: TestStream;
  /** The @JetStreamConsumer() controller whose @EventPattern handlers take the messages. */
  controller: Type<unknown>;
  service: ServiceName;
  /** The consuming service's keys (the tokens' audience is checked against them). */
  keys: KeyStore;
  replay?: TokenReplayStore;
}

/**
 * A Nest app serving one consumer controller through a JetStreamServer on a test stream, with the default policy
 * and short redelivery settings (3 deliveries, 50–200 ms apart), so a spec sees retries and dead letters quickly.
 */
export async function startTestConsumer(options: TestConsumerOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ controllers: [options.controller] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  const server = new JetStreamServer({
    settings: options.stream.settings,
    service: options.service,
    keys: options.keys,
    policy: PolicyService.fromEnv({}),
    replay: options.replay,
    maxDeliver: 3,
    retryBaseMs: 50,
    retryMaxMs: 200,
  });
  app.connectMicroservice({ strategy: server }, { inheritAppConfig: false });
  await app.startAllMicroservices();
  await app.init();
  return app;
}
