// The rows of many actions, written as the executor's groups write them: one INSERT per table, a row already
// stored skipped without failing its neighbours (a repeated attempt of a workflow step adds no second task).
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { CapturedMessageEntity } from '../capture-outbox/captured-message.entity';
import { ExecutionEntity } from '../execution/execution.entity';
import { TaskEntity } from '../tasks/task.entity';
import { executorTestDatabase } from '../testing/executor-database';
import { type ActionRow, actionRow, insertActionRows } from './action-rows';

jest.setTimeout(60_000);

describe('insertActionRows (real PostgreSQL)', () => {
  let close: (() => Promise<void>) | undefined;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ dataSource, close } = await executorTestDatabase('executor_action_rows'));
  });

  afterAll(async () => {
    await close?.();
  });

  const task = (title: string, id = randomUUID(), idempotencyKey: string | null = null): ActionRow =>
    actionRow(TaskEntity, { id, userId: 'u-1', title, description: null, status: 'CREATED', traceId: `trace-${title}`, product: null, createdAt: new Date(), idempotencyKey });
  const message = (recipient: string): ActionRow =>
    actionRow(CapturedMessageEntity, { id: randomUUID(), channel: 'email', recipient, subject: 's', body: 'b', traceId: `trace-${recipient}`, product: null, createdAt: new Date(), idempotencyKey: null });

  /** Runs `rows` in one transaction and answers the INSERT statements it sent. */
  async function insertCounting(rows: readonly ActionRow[]): Promise<string[]> {
    const runner = dataSource.createQueryRunner();
    const sent: string[] = [];
    const query = runner.query.bind(runner);
    runner.query = ((sql: string, ...rest: unknown[]) => {
      if (/^\s*INSERT/i.test(sql)) sent.push(sql);
      return (query as (...args: unknown[]) => Promise<unknown>)(sql, ...rest);
    }) as typeof runner.query;
    try {
      await runner.startTransaction();
      await insertActionRows(runner.manager, rows);
      await runner.commitTransaction();
    } catch (error) {
      await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
    return sent;
  }

  it('writes the rows of many actions with one INSERT per table', async () => {
    const rows = [task('a'), message('x@example.com'), task('b'), task('c'), message('y@example.com')];
    const sent = await insertCounting(rows);
    expect(sent).toHaveLength(2);
    expect(sent.filter((sql) => sql.includes('"tasks"'))).toHaveLength(1);
    expect(sent.filter((sql) => sql.includes('"captured_messages"'))).toHaveLength(1);
    const titles = await dataSource.query(`SELECT title FROM tasks WHERE title IN ('a', 'b', 'c') ORDER BY title`);
    expect(titles.map((r: { title: string }) => r.title)).toEqual(['a', 'b', 'c']);
    const recipients = await dataSource.query(`SELECT recipient FROM captured_messages WHERE recipient LIKE '%@example.com' ORDER BY recipient`);
    expect(recipients.map((r: { recipient: string }) => r.recipient)).toEqual(['x@example.com', 'y@example.com']);
  });

  it('skips a row already stored and keeps its neighbours', async () => {
    const id = randomUUID();
    await insertCounting([task('first', id, 'run-1:steps.first')]);
    // The same row again (a repeated attempt), and the same idempotency key twice in one group.
    await insertCounting([task('d'), task('first again', id, 'run-1:steps.first'), task('e', randomUUID(), 'run-2:steps.x'), task('e twice', randomUUID(), 'run-2:steps.x')]);
    const rows: { title: string }[] = await dataSource.query(`SELECT title FROM tasks WHERE title IN ('first', 'first again', 'd', 'e', 'e twice') ORDER BY title`);
    expect(rows.map((r) => r.title)).toEqual(['d', 'e', 'first']);
  });

  it('splits a very large group into INSERTs of at most 500 rows', async () => {
    const rows = Array.from({ length: 1001 }, (_, i) => task(`bulk-${i}`));
    const sent = await insertCounting(rows);
    expect(sent).toHaveLength(3);
    const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM tasks WHERE title LIKE 'bulk-%'`);
    expect(n).toBe(1001);
  });

  it('writes a row without a property with the column default', async () => {
    const id = randomUUID();
    await insertCounting([actionRow(TaskEntity, { id, userId: null, title: 'defaults', description: null, traceId: 'trace-defaults', product: null })]);
    const [row] = await dataSource.query(`SELECT status, created_at, idempotency_key FROM tasks WHERE id = $1`, [id]);
    expect(row.status).toBe('CREATED');
    expect(row.created_at).toBeInstanceOf(Date);
    expect(row.idempotency_key).toBeNull();
  });

  it('refuses a table whose values would need a conversion (a JSON column) and writes nothing', async () => {
    const row = actionRow(ExecutionEntity, { traceId: 'trace-json', status: 'running', request: { a: 1 } } as never);
    await expect(insertCounting([row])).rejects.toThrow(/executions\.request needs a conversion/);
  });

  it('writes nothing for no rows', async () => {
    expect(await insertCounting([])).toEqual([]);
  });
});
