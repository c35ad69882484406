// TypeORM CLI entry (e.g. `npx typeorm migration:show -d dist/apps/core/src/data-source.js`).
import { buildDataSourceOptions } from '@pancha/service-kit';
import { DataSource } from 'typeorm';
import { CORE_ENTITIES, CORE_MIGRATIONS } from './database';

export default new DataSource(
  buildDataSourceOptions({
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/core',
    entities: CORE_ENTITIES,
    migrations: CORE_MIGRATIONS,
  }),
);
