/**
 * pg-boss (10.4.2, durable jobs in PostgreSQL) doing the job `npm run bench` gives Pancha's POST /handle_task,
 * for a side-by-side rate on the same PostgreSQL: node:http accepts a task and answers 202 once `boss.send` has
 * committed the job (a body `{ tasks: [...] }` is a batch, sent with `boss.insert`, one statement); PGBOSS_WORKERS workers (each fetching batches of PGBOSS_BATCH, polling every 0.5 s, pg-boss's
 * floor) execute it and record its outcome: one transaction inserting the task row, its audit row and upserting the
 * user's score; pg-boss then marks the job completed. Run as a child process so its CPU is its own.
 *
 * One worker is capped by its polling, not by CPU: it fetches a batch, runs it, and waits out the rest of the
 * 0.5 s interval, so it never completes more than PGBOSS_BATCH jobs per 0.5 s (200/s at 100), on any machine. Users
 * who need throughput run several workers (each `boss.work` is its own fetch loop; `SKIP LOCKED` keeps them apart),
 * which is what the bench does by default (8: measured 191 jobs/s with one worker, 628 with 4, 805 with 8).
 *   DATABASE_URL=… PORT=… [PGBOSS_WORKERS=8] [PGBOSS_BATCH=100] node dist/tools/bench/src/pgboss-server.js
 */
import { createServer } from 'node:http';
import { Pool } from 'pg';
// pg-boss 10 is CommonJS with its own types.
import PgBoss from 'pg-boss';

const QUEUE = 'task';
const BATCH = Number(process.env.PGBOSS_BATCH ?? 100);
const WORKERS = Number(process.env.PGBOSS_WORKERS ?? 8);

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL as string;
  const pool = new Pool({ connectionString: url, max: 10, application_name: 'bench-pgboss-worker' });
  await pool.query(`
    CREATE TABLE IF NOT EXISTS boss_tasks (job_id uuid PRIMARY KEY, user_id text NOT NULL, input text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS boss_audit (seq bigserial PRIMARY KEY, job_id uuid NOT NULL UNIQUE, event jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS boss_scores (user_id text PRIMARY KEY, score int NOT NULL)`);
  const boss = new PgBoss({ connectionString: url, max: 20, application_name: 'bench-pgboss' });
  boss.on('error', (error: Error) => console.error(`[pgboss] ${error.message}`));
  await boss.start();
  await boss.createQueue(QUEUE);
  const execute = async (jobs: PgBoss.Job<{ user_id: string; input: string }>[]): Promise<void> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // By user, so that concurrent workers lock score rows in one order: in arrival order two workers' batches
      // deadlocked on each other's upserts (8 workers, 600 of 5,000 jobs failed after their retries on 2026-12-01).
      const byUser = [...jobs].sort((a, b) => (a.data.user_id < b.data.user_id ? -1 : a.data.user_id > b.data.user_id ? 1 : 0));
      for (const job of byUser) {
        await client.query('INSERT INTO boss_tasks (job_id, user_id, input) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [job.id, job.data.user_id, job.data.input]);
        await client.query('INSERT INTO boss_audit (job_id, event) VALUES ($1, $2) ON CONFLICT DO NOTHING', [job.id, JSON.stringify({ type: 'workflow_execution', job: job.id })]);
        await client.query('INSERT INTO boss_scores (user_id, score) VALUES ($1, 1) ON CONFLICT (user_id) DO UPDATE SET score = boss_scores.score + 1', [job.data.user_id]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  };
  for (let i = 0; i < WORKERS; i++) await boss.work(QUEUE, { batchSize: BATCH, pollingIntervalSeconds: 0.5 }, execute);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (status: number, text: string) => {
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      type Task = { user_id: string; input: string };
      let data: Task | { tasks: Task[] };
      try {
        data = JSON.parse(Buffer.concat(chunks).toString()) as Task | { tasks: Task[] };
      } catch {
        return answer(400, '{"error":"invalid json"}');
      }
      // A batch (the bench's --submit-batch) goes in with pg-boss's bulk insert: one statement for its jobs.
      const sent = 'tasks' in data ? boss.insert(data.tasks.map((task) => ({ name: QUEUE, data: task }))).then(() => ({ jobs: data.tasks.length })) : boss.send(QUEUE, data).then((id) => ({ id }));
      sent.then(
        (body) => answer(202, JSON.stringify(body)),
        (e: Error) => answer(503, JSON.stringify({ error: e.message })),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
  process.on('SIGTERM', () => {
    server.close();
    void boss.stop({ graceful: false, wait: false }).finally(() => void pool.end().finally(() => process.exit(0)));
  });
}

void main().catch((error: Error) => {
  console.error(error.stack);
  process.exit(1);
});
