import { connectJetStream } from '@pancha/nats-transport';
import { bootstrapService, exitOnFailedStart, validateEnv } from '@pancha/service-kit';
import { AppModule } from './app.module';
import { BucketConfig } from './config/env.validation';

const config = validateEnv(BucketConfig);
void bootstrapService(AppModule.forRoot(config), { defaultPort: 8001, config, microservices: connectJetStream }).catch(exitOnFailedStart('bucket'));
