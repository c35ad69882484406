import { DynamicModule, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { RequesterId, ServiceName } from '@pancha/contracts';
import { GovernanceModule } from '@pancha/governance';
import { shutdownTracing } from '@pancha/trace-context';
import type { Writable } from 'node:stream';
import { DataSource } from 'typeorm';
import { BaseServiceConfig } from './config/env.validation';
import type { DataSourceOptions } from 'typeorm';
import { buildDataSourceOptions, DatabaseOptions } from './database/data-source-options';
import { DatabaseRoleError, migrateAsOwner } from './database/database-roles';
import { initializeMigrated } from './database/locked-migrations';
import { HealthController } from './health/health.controller';
import { ServiceLoggingModule } from './logging/service-logging.module';
import { ThrottlerAuthFailureLimiter } from './rate-limit/auth-failure.limiter';
import { RateLimitModule } from './rate-limit/rate-limit.module';
import { ServiceIdentityOptions } from './service-identity';
import { PgTokenReplayStore } from './token-replay/pg-token-replay.store';

export interface ServiceKitOptions {
  service: ServiceName;
  self: RequesterId;
  config: BaseServiceConfig;
  database: Omit<DatabaseOptions, 'url'>;
  /** Where the JSON log lines go; default stdout (tests capture them). */
  logDestination?: Writable;
}

@Injectable()
class TracingShutdown implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    // Flush spans still queued in the batch processor before the process goes away.
    await shutdownTracing();
  }
}

/**
 * What every Pancha service has: JSON logging, its own database, service identity + policy (with replay
 * protection and failed-authentication limits), the anonymous rate limit, health, readiness, metrics.
 * The app's validated config is provided as BaseServiceConfig, so configureApp finds the edge settings.
 */
@Module({})
export class ServiceKitModule {
  static forRoot(options: ServiceKitOptions): DynamicModule {
    const { config } = options;
    return {
      module: ServiceKitModule,
      global: true,
      imports: [
        ServiceLoggingModule.forRoot(options.service, config.LOG_LEVEL, options.logDestination),
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            ...buildDataSourceOptions({ ...options.database, url: options.config.DATABASE_URL }),
            // The factory below runs the migrations under a lock (as the owner when there is an owner URL, never as
            // the runtime role); TypeORM's own run at initialize would take none.
            migrationsRun: false,
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
            return initializeMigrated(new DataSource(dataSourceOptions as DataSourceOptions), !migrationUrl);
          },
        }),
        RateLimitModule.forRoot(options.service, config),
        GovernanceModule.forRoot({
          service: options.service,
          self: options.self,
          config,
          tokenReplayStore: { useFactory: (dataSource: DataSource) => new PgTokenReplayStore(dataSource), inject: [DataSource] },
          ...(config.RATE_LIMIT_AUTH_FAILURE_LIMIT > 0
            ? {
                authFailureLimiter: {
                  useFactory: (storage: ThrottlerStorage) =>
                    new ThrottlerAuthFailureLimiter(storage, {
                      service: options.service,
                      limit: config.RATE_LIMIT_AUTH_FAILURE_LIMIT,
                      windowMs: config.RATE_LIMIT_AUTH_FAILURE_WINDOW_MS,
                      blockMs: config.RATE_LIMIT_AUTH_FAILURE_BLOCK_MS,
                    }),
                  inject: [ThrottlerStorage],
                },
              }
            : {}),
        }),
      ],
      controllers: [HealthController],
      providers: [
        { provide: ServiceIdentityOptions, useValue: new ServiceIdentityOptions(options.service, config.APP_ENV) },
        { provide: BaseServiceConfig, useValue: config },
        TracingShutdown,
      ],
      exports: [ServiceIdentityOptions, BaseServiceConfig],
    };
  }
}
