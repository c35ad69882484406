/**
 * `npm run bench:verify`: Bucket's write latency while auditors hammer GET /audit/verify (issue 6, finding 6).
 *
 * 1. startStack with Bucket only, on DATABASE_URL (fresh `bench_<hex>_bucket`, dropped afterwards) or an embedded
 *    PostgreSQL in a temporary directory; free ports.
 * 2. Fills the chain with BENCH_VERIFY_ENTRIES (20,000) PRANA packets, 500 per request.
 * 3. Three phases of BENCH_VERIFY_WRITES (400) POST /core/write-event, 4 at a time, each write timed:
 *      idle            no verification running;
 *      verify          8 loops calling GET /audit/verify (the default: incremental) back to back;
 *      verify?full     8 loops calling GET /audit/verify?full=true back to back.
 *    Prints per phase the write p50 / p99 / max and how many verifications completed, with their p50.
 * BENCH_ROOT runs another build (e.g. an export of main with its dist/) for before/after numbers; with
 * BENCH_DATABASE_ROLES=false the stack runs Bucket as the server's role (a build that predates DATABASE_MIGRATION_URL).
 */
// @pancha/contracts' DTO classes carry class-transformer decorators, which need the metadata polyfill first.
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RequesterId } from '@pancha/contracts';
import { loadKeyStore, TokenIssuer } from '@pancha/governance';
import { startStack, type RunningStack } from '@pancha/stack';

// dist/tools/<tool>/src → the repository root.
const ROOT = process.env.BENCH_ROOT ? path.resolve(process.env.BENCH_ROOT) : path.resolve(__dirname, '../../../..');
const ENTRIES = positive('BENCH_VERIFY_ENTRIES', 20_000);
const WRITES = positive('BENCH_VERIFY_WRITES', 400);
const WRITE_CONCURRENCY = 4;
const VERIFIERS = 8;

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const ms = (n: number) => `${n.toFixed(1)} ms`;

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'pancha-bench-verify-'));
  chmodSync(tmp, 0o755);
  let stack: RunningStack | undefined;
  try {
    stack = await startStack({
      rootDir: ROOT,
      dataDir: path.join(tmp, 'data'),
      databaseUrl: process.env.DATABASE_URL || undefined,
      databasePrefix: `bench_${randomBytes(3).toString('hex')}_`,
      dropDatabasesOnStop: true,
      databaseRoles: process.env.BENCH_DATABASE_ROLES !== 'false',
      postgresPort: await freePort(),
      ports: { bucket: await freePort() },
      services: ['bucket'],
      logDir: path.join(tmp, 'logs'),
      env: { LOG_LEVEL: 'warn', NATS_URL: '' },
      log: () => undefined,
    });
    const url = stack.urls.bucket;
    const issuers = {
      core: new TokenIssuer(loadKeyStore(RequesterId.Core, { PANCHA_KEYS_DIR: stack.keysDir })),
      prana: new TokenIssuer(loadKeyStore(RequesterId.Prana, { PANCHA_KEYS_DIR: stack.keysDir })),
    };
    const call = async (who: keyof typeof issuers, method: string, route: string, body?: unknown) => {
      const res = await fetch(`${url}${route}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await issuers[who].tokenFor('bucket')}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${route} → ${res.status} ${text.slice(0, 200)}`);
      return JSON.parse(text) as Record<string, unknown>;
    };

    process.stdout.write(`filling the chain with ${ENTRIES} entries… `);
    for (let done = 0; done < ENTRIES; done += 500) {
      const n = Math.min(500, ENTRIES - done);
      const packets = Array.from({ length: n }, (_, i) => ({
        event_id: randomUUID(),
        user_id: `bench-u${(done + i) % 100}`,
        state: 'DEEP_FOCUS',
        timestamp: new Date().toISOString(),
      }));
      await call('prana', 'POST', '/bucket/prana/ingest', { packets });
    }
    console.log('done');

    const phase = async (label: string, verifyRoute?: string) => {
      let stop = false;
      const verifyLatencies: number[] = [];
      const loops = verifyRoute
        ? Array.from({ length: VERIFIERS }, async () => {
            while (!stop) {
              const started = performance.now();
              const result = await call('core', 'GET', verifyRoute);
              if (result.ok !== true) throw new Error(`verify not ok: ${JSON.stringify(result)}`);
              verifyLatencies.push(performance.now() - started);
            }
          })
        : [];
      // Let the verifiers get going before the writes are timed.
      if (verifyRoute) await new Promise((r) => setTimeout(r, 500));
      const latencies: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: WRITE_CONCURRENCY }, async () => {
          while (next < WRITES) {
            next += 1;
            const started = performance.now();
            await call('core', 'POST', '/core/write-event', {
              requester_id: 'bhiv_core',
              event_data: { event_id: randomUUID(), event_type: 'bench_write' },
            });
            latencies.push(performance.now() - started);
          }
        }),
      );
      stop = true;
      await Promise.all(loops);
      latencies.sort((a, b) => a - b);
      verifyLatencies.sort((a, b) => a - b);
      const verifies = verifyRoute ? `; ${verifyLatencies.length} verifications, p50 ${ms(percentile(verifyLatencies, 50))}` : '';
      console.log(
        `${label.padEnd(28)} writes p50 ${ms(percentile(latencies, 50))}  p99 ${ms(percentile(latencies, 99))}  max ${ms(latencies[latencies.length - 1])}${verifies}`,
      );
    };

    console.log(`${WRITES} writes (${WRITE_CONCURRENCY} at a time) on a chain of ~${ENTRIES} entries, ${VERIFIERS} concurrent verifiers:`);
    await phase('idle');
    await phase('8 × GET /audit/verify', '/audit/verify');
    await phase('8 × GET /audit/verify?full', '/audit/verify?full=true');
  } finally {
    await stack?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
