// TypeORM CLI entry (e.g. `npx typeorm migration:show -d dist/apps/workflow-executor/src/data-source.js`).
import 'reflect-metadata';
import { buildDataSourceOptions } from '@pancha/service-kit';
import { DataSource } from 'typeorm';
import { EXECUTOR_ENTITIES, EXECUTOR_MIGRATIONS } from './database';

export default new DataSource(
  buildDataSourceOptions({
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/executor',
    entities: EXECUTOR_ENTITIES,
    migrations: EXECUTOR_MIGRATIONS,
  }),
);
