import type { DataSourceOptions, MixedList, EntitySchema } from 'typeorm';
import type { RuntimeGrants } from './database-roles';
import { SERVICE_KIT_MIGRATIONS } from '../token-replay/pg-token-replay.store';
import { PreparingClient } from './preparing-client';

export interface DatabaseOptions {
  url: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  /** The app's own migrations; service-kit adds its own (the `used_tokens` table of replay protection). */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
  /** Pool size per process. */
  poolSize?: number;
  /** With DATABASE_MIGRATION_URL: tables the runtime role gets less than SELECT, INSERT, UPDATE, DELETE on. */
  runtimeGrants?: RuntimeGrants;
}

/**
 * One definition used by Nest (TypeOrmModule) and by each app's data-source.ts (TypeORM CLI).
 * Schema changes only through migrations; queries fail fast when the database is gone so callers get a 503.
 */
export function buildDataSourceOptions(options: DatabaseOptions): DataSourceOptions {
  return {
    type: 'postgres',
    url: options.url,
    entities: options.entities,
    migrations: [...(Array.isArray(options.migrations) ? options.migrations : Object.values(options.migrations)), ...SERVICE_KIT_MIGRATIONS],
    migrationsRun: true,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error', 'warn', 'migration'],
    extra: {
      max: options.poolSize ?? 10,
      // Also how long a request waits for a free pooled connection: at 3 s a starved 2-core machine answered 503
      // database_unavailable to 8–22 % of accepts with the database up. A database that is really down refuses the
      // connection at once (ECONNREFUSED), so this only bounds a black-holed one.
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30000,
      // Hot statements prepared once per connection (preparing-client.ts).
      Client: PreparingClient,
    },
  };
}
