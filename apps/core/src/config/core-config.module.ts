import { type DynamicModule, Global, Module } from '@nestjs/common';
import { CoreConfig } from './env.validation';

/** Makes the validated config injectable everywhere, including inside OutboxModule's handlers. */
@Global()
@Module({})
export class CoreConfigModule {
  static forRoot(config: CoreConfig): DynamicModule {
    return {
      module: CoreConfigModule,
      providers: [{ provide: CoreConfig, useValue: config }],
      exports: [CoreConfig],
    };
  }
}
