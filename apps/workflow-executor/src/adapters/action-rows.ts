import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
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
 *
 * The statement is written here from the entity's column mapping rather than by TypeORM's insert builder: the builder
 * cost ≈ 3 % of the executor's CPU at saturation (parameter bookkeeping per value and a RETURNING of the defaults that
 * nobody reads). A property left undefined takes the column's DEFAULT, as with the builder.
 */
export async function insertActionRows(manager: EntityManager, rows: readonly ActionRow[]): Promise<void> {
  const byTable = new Map<EntityTarget<ObjectLiteral>, QueryDeepPartialEntity<ObjectLiteral>[]>();
  for (const row of rows) {
    const values = byTable.get(row.into);
    if (values) values.push(row.values);
    else byTable.set(row.into, [row.values]);
  }
  for (const [into, values] of byTable) {
    const table = tableOf(manager, into);
    for (let i = 0; i < values.length; i += ROWS_PER_INSERT) {
      const { sql, params } = insertStatement(table, values.slice(i, i + ROWS_PER_INSERT));
      await manager.query(sql, params);
    }
  }
}

interface ActionTable {
  /** Quoted, schema-qualified when the entity names a schema. */
  name: string;
  columns: readonly ColumnMetadata[];
}

function tableOf(manager: EntityManager, into: EntityTarget<ObjectLiteral>): ActionTable {
  const metadata = manager.connection.getMetadata(into);
  for (const column of metadata.columns) {
    // Values are sent as given: a transformer or a JSON column would need the builder's conversions.
    if (column.transformer || column.type === 'json' || column.type === 'jsonb' || column.relationMetadata) {
      throw new Error(`insertActionRows: ${metadata.tableName}.${column.databaseName} needs a conversion it does not make`);
    }
  }
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
  return {
    name: metadata.schema ? `${quote(metadata.schema)}.${quote(metadata.tableName)}` : quote(metadata.tableName),
    columns: metadata.columns,
  };
}

/** The rows' columns are those any row sets; a row without one writes DEFAULT there. */
function insertStatement(table: ActionTable, rows: readonly QueryDeepPartialEntity<ObjectLiteral>[]): { sql: string; params: unknown[] } {
  const columns = table.columns.filter((c) => rows.some((row) => (row as Record<string, unknown>)[c.propertyName] !== undefined));
  const params: unknown[] = [];
  const tuples = rows.map((row) => {
    const cells = columns.map((c) => {
      const value = (row as Record<string, unknown>)[c.propertyName];
      if (value === undefined) return 'DEFAULT';
      params.push(value);
      return `$${params.length}`;
    });
    return `(${cells.join(', ')})`;
  });
  const names = columns.map((c) => `"${c.databaseName}"`).join(', ');
  return { sql: `INSERT INTO ${table.name} (${names}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`, params };
}

/** One action's row, typed by its entity. */
export function actionRow<T extends ObjectLiteral>(into: EntityTarget<T>, values: QueryDeepPartialEntity<T>): ActionRow {
  return { into, values } as ActionRow;
}
