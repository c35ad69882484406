import { bootstrapService, exitOnFailedStart, validateEnv } from '@pancha/service-kit';
import { AppModule } from './app.module';
import { WorkflowExecutorConfig } from './config/env.validation';

const config = validateEnv(WorkflowExecutorConfig);
void bootstrapService(AppModule.forRoot(config), { defaultPort: 8003, config }).catch(exitOnFailedStart('workflow-executor'));
