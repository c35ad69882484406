/**
 * `npm run bench:verify`: Bucket's write latency while auditors hammer GET /audit/verify (issue 6, finding 6).
 *
 * 1. Starts Bucket alone (tools/stack) on a fresh database of DATABASE_URL's server or an embedded PostgreSQL.
 * 2. Fills the chain with BENCH_VERIFY_ENTRIES (20,000) PRANA packets, 500 per request.
 * 3. Three phases of BENCH_VERIFY_WRITES (400) POST /core/write-event, 4 at a time, each write timed:
 *      idle            no verification running;
 *      verify          8 loops calling GET /audit/verify (the default: incremental) back to back;
 *      verify?full     8 loops calling GET /audit/verify?full=true back to back.
 *    The writes of a verifying phase start once every verifier has finished one verification (so they are
 *    measured against verifications in flight, whatever the machine's load).
 *    Prints per phase the write p50 / p99 / max and how many verifications completed, with their p50.
 * Every request carries a token of its own (a write refuses a token id it has seen). Exit code 0 only when every
 * write was a 201 and every verification found an intact chain.
 * BENCH_ROOT runs another build (e.g. an export of main with its dist/) for before/after numbers; with
 * BENCH_DATABASE_ROLES=false the stack runs Bucket as the server's role (a build that predates DATABASE_MIGRATION_URL).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { RequesterId } from '@pancha/contracts';
import { deferred } from '@pancha/testing';
import { inParallel, percentile, positive, runBench, send, startBenchStack, type Reply } from './bench-support';

const ENTRIES = positive('BENCH_VERIFY_ENTRIES', 20_000);
const WRITES = positive('BENCH_VERIFY_WRITES', 400);
const WRITE_CONCURRENCY = 4;
const VERIFIERS = 8;
const PACKETS_PER_INGEST = 500;

const ms = (n: number) => `${n.toFixed(1)} ms`;

runBench('bench:verify', async () => {
  const { stack, keys, stop } = await startBenchStack('bench-verify', ['bucket'], {
    rootDir: process.env.BENCH_ROOT ? path.resolve(process.env.BENCH_ROOT) : undefined,
    databaseRoles: process.env.BENCH_DATABASE_ROLES !== 'false',
  });
  try {
    const url = stack.urls.bucket;
    // A new token for every request, as Bucket's callers do.
    const call = async (who: RequesterId, method: string, route: string, body?: unknown): Promise<Reply> =>
      send(method, `${url}${route}`, body, await keys.bearer(who, 'bucket'));

    process.stdout.write(`[bench:verify] filling the chain with ${ENTRIES} entries… `);
    for (let done = 0; done < ENTRIES; done += PACKETS_PER_INGEST) {
      const packets = Array.from({ length: Math.min(PACKETS_PER_INGEST, ENTRIES - done) }, (_, i) => ({
        event_id: randomUUID(),
        user_id: `bench-u${(done + i) % 100}`,
        state: 'DEEP_FOCUS',
        timestamp: new Date().toISOString(),
      }));
      const r = await call(RequesterId.Prana, 'POST', '/bucket/prana/ingest', { packets });
      if (r.status >= 300) throw new Error(`POST /bucket/prana/ingest → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
    console.log('done');

    let failures = 0;
    const phase = async (label: string, verifyRoute?: string): Promise<void> => {
      let stopped = false;
      const verifyLatencies: number[] = [];
      let warmedUp = 0;
      const allVerifying = deferred();
      const loops = verifyRoute
        ? Array.from({ length: VERIFIERS }, async () => {
            let first = true;
            while (!stopped) {
              const r = await call(RequesterId.Core, 'GET', verifyRoute);
              const result = r.body as { ok?: boolean };
              if (r.status !== 200 || result.ok !== true) {
                failures++;
                console.log(`[bench:verify] ${verifyRoute} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
              }
              verifyLatencies.push(r.ms);
              if (first && ++warmedUp === VERIFIERS) allVerifying.resolve();
              first = false;
            }
          })
        : [];
      // A verifier that throws (a dropped connection) ends the wait too, with its error.
      if (verifyRoute) await Promise.race([allVerifying.promise, Promise.all(loops)]);
      const latencies: number[] = [];
      await inParallel(WRITES, WRITE_CONCURRENCY, async () => {
        const r = await call(RequesterId.Core, 'POST', '/core/write-event', {
          requester_id: RequesterId.Core,
          event_data: { event_id: randomUUID(), event_type: 'bench_write' },
        });
        latencies.push(r.ms);
        if (r.status !== 201) {
          failures++;
          console.log(`[bench:verify] POST /core/write-event → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        }
      });
      stopped = true;
      await Promise.all(loops);
      latencies.sort((a, b) => a - b);
      verifyLatencies.sort((a, b) => a - b);
      const verifies = verifyRoute ? `; ${verifyLatencies.length} verifications, p50 ${ms(percentile(verifyLatencies, 50))}` : '';
      console.log(
        `[bench:verify] ${label.padEnd(28)} writes p50 ${ms(percentile(latencies, 50))}  p99 ${ms(percentile(latencies, 99))}  max ${ms(latencies.at(-1) ?? NaN)}${verifies}`,
      );
    };

    console.log(`[bench:verify] ${WRITES} writes (${WRITE_CONCURRENCY} at a time) on a chain of ~${ENTRIES} entries, ${VERIFIERS} concurrent verifiers:`);
    await phase('idle');
    await phase(`${VERIFIERS} × GET /audit/verify`, '/audit/verify');
    await phase(`${VERIFIERS} × GET /audit/verify?full`, '/audit/verify?full=true');
    if (failures) console.log(`[bench:verify] ${failures} requests failed`);
    return failures === 0;
  } finally {
    await stop();
  }
});
