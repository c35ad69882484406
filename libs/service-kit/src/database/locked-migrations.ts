import type { DataSource, Migration } from 'typeorm';

/**
 * Session-level advisory lock held while one process runs a database's migrations. Advisory locks are scoped to
 * the database, so every service's replicas share this key only with their own siblings.
 */
export const MIGRATION_LOCK_KEY = 7_243_591_017;

/**
 * Runs the pending migrations (one transaction each) under MIGRATION_LOCK_KEY. Every replica runs the migrations at
 * start (k8s prod: two per service, started together); TypeORM takes no lock of its own, so two replicas both found
 * a migration pending and both ran it: one failed on the other's table or index and its replica crashed at start.
 * Under the lock the second waits for the first, then reads the migrations table again and finds nothing to do.
 *
 * The lock lives on a connection of its own (the migrations run on another), so the DataSource's pool needs two.
 * It is released when that session ends, so a replica that dies mid-migration does not block the next one.
 */
export async function runMigrationsLocked(dataSource: DataSource): Promise<Migration[]> {
  const lockRunner = dataSource.createQueryRunner();
  await lockRunner.connect();
  try {
    await lockRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await lockRunner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lockRunner.release();
  }
}

/**
 * An initialized DataSource with its migrations run under the lock; on any failure the DataSource is destroyed
 * before the error goes on, so a retried start (TypeOrmModule retries the factory) does not leave a pool behind.
 */
export async function initializeMigrated(dataSource: DataSource, migrate: boolean): Promise<DataSource> {
  try {
    await dataSource.initialize();
    if (migrate) await runMigrationsLocked(dataSource);
    return dataSource;
  } catch (error) {
    if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    throw error;
  }
}
