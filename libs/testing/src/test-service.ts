import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import { configureApp } from '@pancha/service-kit';
import type { AddressInfo } from 'node:net';

export interface BootServiceOptions {
  /** Replace providers before compiling, e.g. `(b) => b.overrideProvider(Clock).useValue(clock)`. */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  /** Attach message transports (e.g. connectJetStream); they start before the app listens, as in main.ts. */
  microservices?: (app: INestApplication) => unknown;
}

/** A service running in the test process the way main.ts runs it: its pipes, filters and body limits, on a real port. */
export interface TestService {
  app: INestApplication;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/**
 * The one way a test boots a Pancha service: the app's root module (built from its validated config) with the
 * same `configureApp` as production, listening on a free loopback port. One real listener matters: supertest on
 * an unbound server opens an ephemeral one per request, which resets connections under parallel load.
 */
export async function bootService(module: DynamicModule | Type<unknown>, options: BootServiceOptions = {}): Promise<TestService> {
  let builder = Test.createTestingModule({ imports: [module] });
  if (options.override) builder = options.override(builder);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  configureApp(app);
  if (options.microservices) {
    options.microservices(app);
    await app.startAllMicroservices();
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return { app, url, close: () => app.close() };
}
