// TypeORM CLI entry (e.g. `npx typeorm migration:show -d dist/apps/karma/src/data-source.js`).
import 'reflect-metadata';
import { buildDataSourceOptions } from '@pancha/service-kit';
import { DataSource } from 'typeorm';
import { KARMA_ENTITIES, KARMA_MIGRATIONS } from './database';

export default new DataSource(
  buildDataSourceOptions({
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/karma',
    entities: KARMA_ENTITIES,
    migrations: KARMA_MIGRATIONS,
  }),
);
