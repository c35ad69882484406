import { Logger } from '@nestjs/common';
import { connectJetStream } from '@pancha/nats-transport';
import { bootstrapService, validateEnv } from '@pancha/service-kit';
import { AppModule } from './app.module';
import { KarmaConfig } from './config/env.validation';

function fail(error: unknown): never {
  new Logger('karma').error(`failed to start: ${(error as Error)?.message ?? String(error)}`);
  process.exit(1);
}

try {
  const config = validateEnv(KarmaConfig);
  void bootstrapService(AppModule.forRoot(config), { defaultPort: 8000, config, microservices: connectJetStream }).catch(fail);
} catch (error) {
  // Bad environment or a bad karma.config.yaml: the message names every bad key.
  fail(error);
}
