// TypeORM CLI entry (`npx typeorm -d dist/apps/bucket/src/data-source.js migration:show`); Nest uses the same lists.
import { buildDataSourceOptions } from '@pancha/service-kit';
import { DataSource } from 'typeorm';
import { BUCKET_ENTITIES, BUCKET_MIGRATIONS } from './database';

export default new DataSource(
  buildDataSourceOptions({
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/bucket',
    entities: BUCKET_ENTITIES,
    migrations: BUCKET_MIGRATIONS,
  }),
);
