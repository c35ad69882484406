import { buildDataSourceOptions } from '@pancha/service-kit';
import { createTestDatabase } from '@pancha/testing';
import { DataSource } from 'typeorm';
import { EXECUTOR_ENTITIES, EXECUTOR_MIGRATIONS } from '../database';

/** A fresh database with the executor's schema (its migrations run), for specs that need the database alone. */
export async function executorTestDatabase(prefix: string): Promise<{ dataSource: DataSource; close(): Promise<void> }> {
  const db = await createTestDatabase(prefix);
  const dataSource = new DataSource({ ...buildDataSourceOptions({ url: db.url, entities: EXECUTOR_ENTITIES, migrations: EXECUTOR_MIGRATIONS }), migrationsRun: true });
  try {
    await dataSource.initialize();
  } catch (error) {
    await db.drop();
    throw error;
  }
  return {
    dataSource,
    close: async () => {
      await dataSource.destroy();
      await db.drop();
    },
  };
}
