import { connectJetStream } from '@pancha/nats-transport';
import { bootstrapService, exitOnFailedStart, validateEnv } from '@pancha/service-kit';
import { AppModule } from './app.module';
import { KarmaConfig } from './config/env.validation';

const fail = exitOnFailedStart('karma');

try {
  const config = validateEnv(KarmaConfig);
  void bootstrapService(AppModule.forRoot(config), { defaultPort: 8000, config, microservices: connectJetStream }).catch(fail);
} catch (error) {
  // Bad environment or a bad karma.config.yaml: the message names every bad key.
  fail(error);
}
