import type { DataSource } from 'typeorm';
import { poll } from './eventually';

/** A table held by a transaction of its own: writers to it wait until `release` (group-commit tests). */
export interface HeldTable {
  /** Resolves once exactly one statement containing `statement` waits on a lock in this database. */
  waiting(statement: string): Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes `table` in EXCLUSIVE mode, so the first writer's transaction waits on it and what is submitted meanwhile
 * queues for the next group commit. Only this database's sessions count (pg_stat_activity is the whole server's,
 * and other test files wait on their own locks).
 */
export async function holdTable(dataSource: DataSource, table: string): Promise<HeldTable> {
  const blocker = dataSource.createQueryRunner();
  await blocker.connect();
  await blocker.startTransaction();
  await blocker.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
  return {
    waiting: async (statement) => {
      await poll(`a statement containing "${statement}" to wait on the lock of ${table}`, async () => {
        const rows = (await dataSource.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND position($1 in query) > 0`,
          [statement],
        )) as unknown[];
        return rows.length === 1 || undefined;
      });
    },
    release: async () => {
      await blocker.commitTransaction();
      await blocker.release();
    },
  };
}
