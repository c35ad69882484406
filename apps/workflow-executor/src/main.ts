import { Logger } from '@nestjs/common';
import { bootstrapService, validateEnv } from '@pancha/service-kit';
import { AppModule } from './app.module';
import { WorkflowExecutorConfig } from './config/env.validation';

const config = validateEnv(WorkflowExecutorConfig);
void bootstrapService(AppModule.forRoot(config), { defaultPort: 8003, config }).catch((error: unknown) => {
  new Logger('workflow-executor').error(`failed to start: ${(error as Error)?.message ?? String(error)}`);
  process.exit(1);
});
