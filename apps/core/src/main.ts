import { connectJetStream } from '@pancha/nats-transport';
import { bootstrapService, exitOnFailedStart, validateEnv } from '@pancha/service-kit';
import { AppModule } from './app.module';
import { CoreConfig } from './config/env.validation';

const config = validateEnv(CoreConfig);
void bootstrapService(AppModule.forRoot(config), { defaultPort: 8002, config, microservices: connectJetStream }).catch(exitOnFailedStart('core'));
