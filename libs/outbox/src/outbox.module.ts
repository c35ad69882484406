import { type DynamicModule, Module, type ModuleMetadata, type Type } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { OUTBOX_HANDLERS, type OutboxHandler } from './outbox-handler.interface';
import { OutboxMetrics } from './outbox-metrics';
import { OutboxPruner } from './outbox-pruner.service';
import { OutboxRelay } from './outbox-relay.service';
import { OutboxStatsController } from './outbox-stats.controller';
import { OUTBOX_OPTIONS, type OutboxEnv, type OutboxOptions, resolveOutboxOptions } from './outbox.options';
import { OutboxService } from './outbox.service';
import { OutboxStore } from './outbox.store';
import { PgOutboxStore } from './pg-outbox.store';

export interface OutboxModuleOptions {
  /** One handler class per topic; instantiated inside this module. */
  handlers: Type<OutboxHandler>[];
  /** Modules that provide what the handlers inject (clients, config). */
  imports?: ModuleMetadata['imports'];
  /** The app's validated config (its OUTBOX_* fields, see withOutboxConfig); unset fields take the defaults. */
  config?: OutboxEnv;
  /** Overrides of the config (tests use tiny delays). */
  relay?: Partial<OutboxOptions>;
}

/**
 * Needs TypeOrmModule.forRoot in the app with OUTBOX_ENTITIES and OUTBOX_MIGRATIONS in its DataSource.
 * Global so any feature module can inject OutboxService next to its own repositories.
 */
@Module({})
export class OutboxModule {
  static forRoot(options: OutboxModuleOptions): DynamicModule {
    return {
      module: OutboxModule,
      global: true,
      imports: options.imports ?? [],
      controllers: [OutboxStatsController],
      providers: [
        ...options.handlers,
        {
          provide: OUTBOX_HANDLERS,
          useFactory: (...handlers: OutboxHandler[]) => handlers,
          inject: options.handlers,
        },
        { provide: OUTBOX_OPTIONS, useFactory: () => resolveOutboxOptions(options.relay, options.config) },
        { provide: OutboxStore, useFactory: (dataSource: DataSource) => new PgOutboxStore(dataSource), inject: [DataSource] },
        OutboxRelay,
        OutboxPruner,
        OutboxService,
        OutboxMetrics,
      ],
      exports: [OutboxService, OutboxRelay, OutboxPruner],
    };
  }
}
