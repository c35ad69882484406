/**
 * `npm run bench:bucket`: Bucket's append rate over HTTP (POST /core/write-event) and the time of a full
 * chain verification (GET /audit/verify).
 *
 * Starts Bucket alone (tools/stack) on a fresh database and appends BENCH_APPENDS events one at a time, then
 * BENCH_APPENDS more with BENCH_WRITERS writers, each request with its own bhiv_core token; prints appends/s
 * and latency percentiles for both, then times GET /audit/verify over the whole chain and checks it is intact
 * and as long as the number of appends.
 */
import { randomUUID } from 'node:crypto';
import { RequesterId } from '@pancha/contracts';
import { inParallel, latencyLine, positive, runBench, send, startBenchStack, type Reply } from './bench-support';

const APPENDS = positive('BENCH_APPENDS', 1000);
const WRITERS = positive('BENCH_WRITERS', 20);

runBench('bench:bucket', async () => {
  const { stack, keys, stop } = await startBenchStack('bench-bucket', ['bucket']);
  try {
    const append = async (): Promise<Reply> =>
      send(
        'POST',
        `${stack.urls.bucket}/core/write-event`,
        { requester_id: RequesterId.Core, event_data: { event_id: randomUUID(), event_type: 'bench_append', trace_id: randomUUID().replace(/-/g, '') } },
        await keys.bearer(RequesterId.Core, 'bucket'),
      );
    let refused = 0;
    const round = async (concurrency: number): Promise<{ seconds: number; latencies: number[] }> => {
      const latencies: number[] = [];
      const started = performance.now();
      await inParallel(APPENDS, concurrency, async () => {
        const r = await append();
        latencies.push(r.ms);
        if (r.status !== 201) refused++;
      });
      return { seconds: (performance.now() - started) / 1000, latencies };
    };

    const sequential = await round(1);
    const concurrent = await round(WRITERS);
    for (const [what, r] of [
      ['1 writer', sequential],
      [`${WRITERS} writers`, concurrent],
    ] as const) {
      console.log(`[bench:bucket] ${APPENDS} appends, ${what}: ${(APPENDS / r.seconds).toFixed(0)}/s; latency ms  ${latencyLine(r.latencies)}`);
    }

    const verify = await send('GET', `${stack.urls.bucket}/audit/verify`, undefined, await keys.bearer(RequesterId.Core, 'bucket'));
    const result = verify.body as { ok?: boolean; size?: number };
    console.log(`[bench:bucket] GET /audit/verify over ${result.size} entries: ${verify.ms.toFixed(0)} ms, ok ${result.ok}`);
    if (refused) console.log(`[bench:bucket] ${refused} appends were not answered 201`);
    return refused === 0 && verify.status === 200 && result.ok === true && result.size === 2 * APPENDS;
  } finally {
    await stop();
  }
});
