// `npm run bench:karma`: how many events per second Karma ingests (POST /v1/event/ over HTTP).
//
// Builds the Karma Nest app in this process against a fresh database on DATABASE_URL's server (dropped at the
// end), listens on a free port, mints a bhiv_core token from throw-away keys, fires BENCH_EVENTS life_events
// for BENCH_USERS users with BENCH_CONCURRENCY requests in flight, and prints events/s and latency percentiles.
// Bounded by BENCH_MAX_SECONDS. Then checks that every accepted event is in the ledger once.
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { REQUESTER_IDS, RequesterId } from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, TokenIssuer } from '@pancha/governance';
import { configureApp, validateEnv } from '@pancha/service-kit';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AppModule } from '../../../apps/karma/src/app.module';
import { KarmaConfig } from '../../../apps/karma/src/config/env.validation';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 5000);
const USERS = Number(process.env.BENCH_USERS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 90);
const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ACTIONS = ['completing_lessons', 'helping_peers', 'solving_doubts', 'selfless_service', 'deep_focus', 'workflow_success', 'workflow_failure', 'cheat', 'on_task', 'break_promise'];

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin(sql: string): Promise<void> {
  const c = new Client({ connectionString: withDatabase(SERVER, 'postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const dbName = `bench_karma_${randomBytes(4).toString('hex')}`;
  const keysDir = mkdtempSync(path.join(tmpdir(), 'karma-bench-keys-'));
  let app: INestApplication | undefined;
  let created = false;
  const deadline = Date.now() + MAX_SECONDS * 1000;
  try {
    await admin(`CREATE DATABASE "${dbName}"`);
    created = true;
    ensureKeyPairs(keysDir, [...REQUESTER_IDS]);
    process.env.PANCHA_KEYS_DIR = keysDir;
    const env = { ...process.env, DATABASE_URL: withDatabase(SERVER, dbName), LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
    app = await NestFactory.create(AppModule.forRoot(validateEnv(KarmaConfig, env)), { bodyParser: false, logger: ['error', 'warn'], abortOnError: false });
    configureApp(app);
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    const issuer = new TokenIssuer(loadKeyStore(RequesterId.Core, process.env));

    const send = async (i: number): Promise<{ ok: boolean; status: number; ms: number }> => {
      // A write token is single-use (replay protection): one per request, as the services' own clients do.
      const token = await issuer.tokenFor('karma');
      const body = {
        type: 'life_event',
        source: 'bench',
        data: { event_id: randomUUID(), user_id: `bench-u${i % USERS}`, action: ACTIONS[(i * 7) % ACTIONS.length], context: { i } },
      };
      const t = performance.now();
      const res = await fetch(`${base}/v1/event/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      await res.arrayBuffer();
      return { ok: res.status === 200, status: res.status, ms: performance.now() - t };
    };

    // Warm-up: JIT, pool connections, first Q rows.
    const warm = Math.min(200, EVENTS);
    for (let i = 0; i < warm; i += CONCURRENCY) {
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, warm - i) }, (_, k) => send(EVENTS + i + k)));
    }

    console.log(`[bench:karma] ${EVENTS} life_events, ${USERS} users, ${CONCURRENCY} in flight, database ${dbName}`);
    const latencies: number[] = [];
    const failures = new Map<number, number>();
    let next = 0;
    let accepted = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < EVENTS && Date.now() < deadline) {
          const r = await send(next++);
          latencies.push(r.ms);
          if (r.ok) accepted++;
          else failures.set(r.status, (failures.get(r.status) ?? 0) + 1);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);

    const ds = app.get(DataSource);
    const [{ n: ledgerActions }] = await ds.query(`SELECT count(*)::int AS n FROM karma_ledger WHERE kind = 'action'`);
    const [{ n: qUpdates }] = await ds.query(`SELECT coalesce(sum(updates), 0)::int AS n FROM karma_q_value`);

    console.log(`[bench:karma] sent ${latencies.length} in ${seconds.toFixed(2)} s${latencies.length < EVENTS ? ` (stopped at BENCH_MAX_SECONDS=${MAX_SECONDS})` : ''}`);
    console.log(`[bench:karma] accepted ${accepted}  →  ${(accepted / seconds).toFixed(0)} events/s`);
    console.log(
      `[bench:karma] latency ms  p50 ${percentile(latencies, 50).toFixed(1)}  p95 ${percentile(latencies, 95).toFixed(1)}  ` +
        `p99 ${percentile(latencies, 99).toFixed(1)}  max ${latencies[latencies.length - 1]?.toFixed(1)}`,
    );
    if (failures.size) console.log(`[bench:karma] failures by status: ${JSON.stringify(Object.fromEntries(failures))}`);
    console.log(`[bench:karma] ledger action entries ${ledgerActions}, Q updates ${qUpdates} (warm-up included: ${warm})`);
    if (ledgerActions !== accepted + warm || qUpdates !== ledgerActions || failures.size) process.exitCode = 1;
  } finally {
    await app?.close();
    if (created) await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    rmSync(keysDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`[bench:karma] failed: ${(error as Error)?.stack ?? String(error)}`);
  process.exit(1);
});
