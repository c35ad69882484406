import { DynamicModule, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { RequesterId, ServiceName } from '@pancha/contracts';
import { GovernanceModule } from '@pancha/governance';
import { shutdownTracing } from '@pancha/trace-context';
import { LoggerModule } from 'nestjs-pino';
import { BaseServiceConfig } from './config/env.validation';
import { DataSource } from 'typeorm';
import type { DataSourceOptions } from 'typeorm';
import { buildDataSourceOptions, DatabaseOptions } from './database/data-source-options';
import { DatabaseRoleError, migrateAsOwner } from './database/database-roles';
import { HealthController } from './health/health.controller';
import { loggerOptions } from './logging/logger.options';
import { ServiceIdentityOptions } from './service-identity';

export interface ServiceKitOptions {
  service: ServiceName;
  self: RequesterId;
  config: BaseServiceConfig;
  database: Omit<DatabaseOptions, 'url'>;
}

@Injectable()
class TracingShutdown implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    // Flush spans still queued in the batch processor before the process goes away.
    await shutdownTracing();
  }
}

/** What every Pancha service has: JSON logging, its own database, service identity + policy, health, readiness, metrics. */
@Module({})
export class ServiceKitModule {
  static forRoot(options: ServiceKitOptions): DynamicModule {
    return {
      module: ServiceKitModule,
      global: true,
      imports: [
        LoggerModule.forRoot(loggerOptions(options.service, options.config.LOG_LEVEL)),
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            ...buildDataSourceOptions({ ...options.database, url: options.config.DATABASE_URL }),
            // With an owner URL the migrations run as the owner (below), never as the runtime role.
            migrationsRun: !options.config.DATABASE_MIGRATION_URL,
            // Keep trying while the database comes up (compose/k8s start order is not guaranteed).
            retryAttempts: 60,
            retryDelay: 1000,
            toRetry: (error: unknown) => !(error instanceof DatabaseRoleError),
          }),
          // Retried with the options above: a database still starting delays the migrations, it does not fail them.
          dataSourceFactory: async (dataSourceOptions) => {
            const migrationUrl = options.config.DATABASE_MIGRATION_URL;
            if (migrationUrl) {
              await migrateAsOwner(dataSourceOptions as DataSourceOptions, migrationUrl, options.config.DATABASE_URL, options.database.runtimeGrants);
            }
            return new DataSource(dataSourceOptions as DataSourceOptions).initialize();
          },
        }),
        GovernanceModule.forRoot({ service: options.service, self: options.self }),
      ],
      controllers: [HealthController],
      providers: [
        { provide: ServiceIdentityOptions, useValue: new ServiceIdentityOptions(options.service, options.config.APP_ENV) },
        TracingShutdown,
      ],
      exports: [ServiceIdentityOptions],
    };
  }
}
