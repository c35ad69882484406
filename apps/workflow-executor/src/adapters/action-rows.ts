import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';

/**
 * One row an action consists of (a task, a captured message): inserted, unless its key is already there, in the
 * transaction that records the action's result, so the two can never disagree.
 */
export interface ActionRow {
  into: EntityTarget<ObjectLiteral>;
  values: QueryDeepPartialEntity<ObjectLiteral>;
}

/** Rows per INSERT: a task row binds 9 parameters, far below PostgreSQL's 65,535 per statement. */
const ROWS_PER_INSERT = 500;

/**
 * Inserts the rows of every action a transaction records, one multi-row INSERT … ON CONFLICT DO NOTHING per
 * table (a group of completions or workflow rounds used to cost one statement per action). A row whose key is
 * already stored (a repeated attempt of a workflow step) is skipped, as it was alone.
 */
export async function insertActionRows(manager: EntityManager, rows: readonly ActionRow[]): Promise<void> {
  const byTable = new Map<EntityTarget<ObjectLiteral>, QueryDeepPartialEntity<ObjectLiteral>[]>();
  for (const row of rows) {
    const values = byTable.get(row.into);
    if (values) values.push(row.values);
    else byTable.set(row.into, [row.values]);
  }
  for (const [into, values] of byTable) {
    for (let i = 0; i < values.length; i += ROWS_PER_INSERT) {
      await manager.createQueryBuilder().insert().into(into).values(values.slice(i, i + ROWS_PER_INSERT)).orIgnore().execute();
    }
  }
}

/** One action's row, typed by its entity. */
export function actionRow<T extends ObjectLiteral>(into: EntityTarget<T>, values: QueryDeepPartialEntity<T>): ActionRow {
  return { into, values } as ActionRow;
}
