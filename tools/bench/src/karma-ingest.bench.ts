/**
 * `npm run bench:karma`: how many events per second Karma ingests over HTTP (POST /v1/event/).
 *
 * Starts Karma alone (tools/stack: the compiled service, its own process) on a fresh database, fires
 * BENCH_EVENTS life_events for BENCH_USERS users with BENCH_CONCURRENCY requests in flight, each with its own
 * bhiv_core token, and prints events/s and latency percentiles. Bounded by BENCH_MAX_SECONDS. Then checks in
 * Karma's database that every accepted event is in the ledger once and the Q-table counted each.
 */
import { randomUUID } from 'node:crypto';
import { RequesterId } from '@pancha/contracts';
import { Client } from 'pg';
import { inParallel, latencyLine, positive, runBench, send, startBenchStack } from './bench-support';

const EVENTS = positive('BENCH_EVENTS', 5000);
const USERS = positive('BENCH_USERS', 200);
const CONCURRENCY = positive('BENCH_CONCURRENCY', 32);
const MAX_SECONDS = positive('BENCH_MAX_SECONDS', 90);
const ACTIONS = ['completing_lessons', 'helping_peers', 'solving_doubts', 'selfless_service', 'deep_focus', 'workflow_success', 'workflow_failure', 'cheat', 'on_task', 'break_promise'];

async function counts(databaseUrl: string): Promise<{ ledger: number; qUpdates: number }> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const [{ n: ledger }] = (await db.query(`SELECT count(*)::int AS n FROM karma_ledger WHERE kind = 'action'`)).rows;
    const [{ n: qUpdates }] = (await db.query(`SELECT coalesce(sum(updates), 0)::int AS n FROM karma_q_value`)).rows;
    return { ledger, qUpdates };
  } finally {
    await db.end();
  }
}

runBench('bench:karma', async () => {
  const { stack, keys, stop } = await startBenchStack('bench-karma', ['karma']);
  try {
    const url = `${stack.urls.karma}/v1/event/`;
    const event = async (i: number) =>
      send(
        'POST',
        url,
        { type: 'life_event', source: 'bench', data: { event_id: randomUUID(), user_id: `bench-u${i % USERS}`, action: ACTIONS[(i * 7) % ACTIONS.length], context: { i } } },
        await keys.bearer(RequesterId.Core, 'karma'),
      );

    // Warm-up: JIT, pool connections, first Q rows.
    const warm = Math.min(200, EVENTS);
    let warmFailures = 0;
    await inParallel(warm, CONCURRENCY, async (i) => {
      if ((await event(EVENTS + i)).status !== 200) warmFailures++;
    });

    console.log(`[bench:karma] ${EVENTS} life_events, ${USERS} users, ${CONCURRENCY} in flight`);
    const latencies: number[] = [];
    const failures = new Map<number, number>();
    let accepted = 0;
    const started = performance.now();
    const sent = await inParallel(
      EVENTS,
      CONCURRENCY,
      async (i) => {
        const r = await event(i);
        latencies.push(r.ms);
        if (r.status === 200) accepted++;
        else failures.set(r.status, (failures.get(r.status) ?? 0) + 1);
      },
      Date.now() + MAX_SECONDS * 1000,
    );
    const seconds = (performance.now() - started) / 1000;

    const { ledger, qUpdates } = await counts(stack.databaseUrls.karma);
    console.log(`[bench:karma] sent ${sent} in ${seconds.toFixed(2)} s${sent < EVENTS ? ` (stopped at BENCH_MAX_SECONDS=${MAX_SECONDS})` : ''}`);
    console.log(`[bench:karma] accepted ${accepted}  →  ${(accepted / seconds).toFixed(0)} events/s`);
    console.log(`[bench:karma] latency ms  ${latencyLine(latencies)}`);
    if (failures.size) console.log(`[bench:karma] failures by status: ${JSON.stringify(Object.fromEntries(failures))}`);
    const expected = accepted + warm - warmFailures;
    console.log(`[bench:karma] ledger action entries ${ledger} (expected ${expected}, warm-up included), Q updates ${qUpdates}`);
    return ledger === expected && qUpdates === ledger && failures.size === 0 && warmFailures === 0;
  } finally {
    await stop();
  }
});
