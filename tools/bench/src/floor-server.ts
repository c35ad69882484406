/**
 * The floor of `npm run bench`: node:http and one durable INSERT per request (PostgreSQL's default synchronous
 * commit, its own pool), answering 202 after the commit, like Core's accept. Run as a child process so its CPU is
 * its own. `FLOOR_MODE=bare` answers without touching the database (how fast the load generator can go).
 *   DATABASE_URL=… PORT=… node dist/tools/bench/src/floor-server.js
 */
import { createServer } from 'node:http';
import { Pool } from 'pg';

const bare = process.env.FLOOR_MODE === 'bare';
const pool = bare ? undefined : new Pool({ connectionString: process.env.DATABASE_URL, max: 20, application_name: 'bench-floor' });

async function main(): Promise<void> {
  await pool?.query('CREATE TABLE IF NOT EXISTS floor_tasks (id bigserial PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString() || '{}';
      const answer = (status: number, text: string) => {
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (!pool) return answer(202, '{"accepted":true}');
      pool.query('INSERT INTO floor_tasks (body) VALUES ($1) RETURNING id', [body]).then(
        (r) => answer(202, `{"id":${r.rows[0].id}}`),
        (e: Error) => answer(503, JSON.stringify({ error: e.message })),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
  process.on('SIGTERM', () => {
    server.close();
    void pool?.end().finally(() => process.exit(0));
    if (!pool) process.exit(0);
  });
}

void main().catch((error: Error) => {
  console.error(error.stack);
  process.exit(1);
});
