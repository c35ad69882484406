import { type DynamicModule, Global, Module } from '@nestjs/common';
import { WorkflowExecutorConfig } from './env.validation';

/** Makes the validated config injectable everywhere (adapters, outbox handlers) by its class. */
@Global()
@Module({})
export class ExecutorConfigModule {
  static forRoot(config: WorkflowExecutorConfig): DynamicModule {
    return {
      module: ExecutorConfigModule,
      providers: [{ provide: WorkflowExecutorConfig, useValue: config }],
      exports: [WorkflowExecutorConfig],
    };
  }
}
