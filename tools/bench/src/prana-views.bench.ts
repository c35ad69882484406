/**
 * `npm run bench:prana`: PRANA's console views on 10,000 rows each — how long the BFF takes to answer each view's
 * list (first page, a filtered page, a deep page) and how long Chromium takes to render the view.
 *
 * Starts the whole stack with PRANA (tools/stack, compiled, fresh databases, free ports) and seeds, per view:
 * - runs (Tasks and runs, Workflows): BENCH_ROWS terminal runs of onboard-learner and notify-ops over the last 7 days,
 *   by direct SQL into the executor's workflow_runs (running that many workflows would take far longer than the
 *   measurement; the list only reads the table);
 * - audit: BENCH_ROWS Bucket entries through Bucket's own batch route (`POST /core/write-events`, 100 a batch), for
 *   10 users and 100 traces, so the chain is real and verifies;
 * - karma: BENCH_ROWS life events for the user `admin` (the signed-in user, whose profile the Karma view opens)
 *   through Karma's batch route (`POST /v1/events`).
 * Then signs in as admin through the embedded provider in Chromium (/usr/bin/chromium) and, BENCH_REPEAT times each,
 * times the BFF's answers (Node fetch with the session cookie: server time plus one local hop) and the browser's
 * render of each view (navigation to the view's content on screen). Prints medians and maxima, and the load average
 * (other work on the machine shows in these numbers).
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { RequesterId } from '@pancha/contracts';
import { Client } from 'pg';
import { chromium, type Page } from 'playwright-core';
import { inParallel, percentile, positive, ROOT, runBench, send, startBenchStack } from './bench-support';

const ROWS = positive('BENCH_ROWS', 10_000);
const REPEAT = positive('BENCH_REPEAT', 5);
const USERS = 10;
const TRACES = 100;

interface Row {
  view: string;
  what: string;
  ms: number[];
  note?: string;
}

const rows: Row[] = [];
const median = (ms: number[]) => percentile([...ms].sort((a, b) => a - b), 50);

function record(view: string, what: string, ms: number[], note?: string): void {
  rows.push({ view, what, ms, note });
  console.log(`[bench:prana] ${view.padEnd(10)} ${what.padEnd(46)} median ${median(ms).toFixed(1).padStart(7)} ms  max ${Math.max(...ms).toFixed(1).padStart(7)} ms${note ? `  (${note})` : ''}`);
}

/** BENCH_ROWS terminal runs in the executor's table, created over the last 7 days, newest first in the list. */
async function seedRuns(databaseUrl: string): Promise<void> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query(
      `INSERT INTO workflow_runs (run_id, workflow, version, status, inputs, output, error, user_id, product, actor, trace_id, root_run_id,
                                 created_at, started_at, completed_at, updated_at)
       SELECT id, wf, '1.0.0', st, '{"user_id":"bench"}'::jsonb, NULL,
              CASE WHEN st = 'failed' THEN '{"code":"bench","message":"seeded failure"}'::jsonb END,
              'bench-u' || (i % ${USERS}), NULL, 'user:bench', md5(i::text), id,
              created, created, created + ((50 + i % 900) || ' milliseconds')::interval, created + interval '1 second'
       FROM (SELECT i, gen_random_uuid() AS id,
                    CASE WHEN i % 2 = 0 THEN 'onboard-learner' ELSE 'notify-ops' END AS wf,
                    (ARRAY['completed','completed','completed','failed','cancelled','timed_out'])[1 + i % 6] AS st,
                    now() - interval '7 days' + (i * (interval '7 days' / $1::int)) - interval '1 minute' AS created
             FROM generate_series(1, $1::int) AS i) AS s`,
      [ROWS],
    );
    await db.query('ANALYZE workflow_runs');
  } finally {
    await db.end();
  }
}

runBench('bench:prana', async () => {
  const { stack, keys, stop } = await startBenchStack('bench-prana', ['karma', 'bucket', 'core', 'workflow-executor'], {
    prana: true,
    serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: path.join(ROOT, 'workflows') } },
  });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const prana = stack.prana;
    if (!prana) throw new Error('the stack did not start PRANA');
    const admin = prana.users?.find((u) => u.username === 'admin');
    if (!admin) throw new Error('no dev user admin');

    // --- seed ---------------------------------------------------------------------------------------------
    let t = performance.now();
    await seedRuns(stack.migrationUrls?.['workflow-executor'] ?? stack.databaseUrls['workflow-executor']);
    console.log(`[bench:prana] seeded ${ROWS} runs (SQL) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    t = performance.now();
    let refused = 0;
    await inParallel(Math.ceil(ROWS / 100), 4, async (b) => {
      const events = Array.from({ length: Math.min(100, ROWS - b * 100) }, (_, j) => {
        const i = b * 100 + j;
        return {
          body: {
            requester_id: RequesterId.Core,
            event_data: { event_id: randomUUID(), event_type: 'bench_entry', trace_id: `${(i % TRACES).toString(16).padStart(4, '0')}${'b'.repeat(28)}`, user_id: `bench-u${i % USERS}`, i },
          },
        };
      });
      const r = await send('POST', `${stack.urls.bucket}/core/write-events`, { events }, await keys.bearer(RequesterId.Core, 'bucket'));
      const results = (r.body as { results?: Array<{ status: number }> }).results ?? [];
      refused += r.status !== 200 ? events.length : results.filter((x) => x.status >= 300).length;
    });
    console.log(`[bench:prana] seeded ${ROWS} Bucket entries (batch API) in ${((performance.now() - t) / 1000).toFixed(1)} s${refused ? `, ${refused} refused` : ''}`);

    t = performance.now();
    const ACTIONS = ['completing_lessons', 'helping_peers', 'solving_doubts', 'selfless_service', 'workflow_success', 'workflow_failure', 'on_task'];
    let karmaRefused = 0;
    await inParallel(Math.ceil(ROWS / 100), 4, async (b) => {
      const events = Array.from({ length: Math.min(100, ROWS - b * 100) }, (_, j) => ({
        body: { type: 'life_event', source: 'bench', data: { event_id: randomUUID(), user_id: 'admin', action: ACTIONS[(b * 100 + j) % ACTIONS.length], context: { i: b * 100 + j } } },
      }));
      const r = await send('POST', `${stack.urls.karma}/v1/events`, { events }, await keys.bearer(RequesterId.Core, 'karma'));
      const results = (r.body as { results?: Array<{ status: number }> }).results ?? [];
      karmaRefused += r.status !== 200 ? events.length : results.filter((x) => x.status >= 300).length;
    });
    console.log(`[bench:prana] seeded ${ROWS} karma events for admin (batch API) in ${((performance.now() - t) / 1000).toFixed(1)} s${karmaRefused ? `, ${karmaRefused} refused` : ''}`);

    // --- sign in ------------------------------------------------------------------------------------------
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Telemetry off: its packets would add Bucket entries while the audit view is timed.
    await context.addInitScript({ content: "localStorage.setItem('PRANA_DISABLED', '1')" });
    const page = await context.newPage();
    await page.goto(`${prana.url}/auth/login?return_to=%2F`);
    await page.locator('#username').fill('admin');
    await page.locator('#password').fill(admin.password);
    await page.locator('form button[type=submit], form button').first().click();
    await page.getByTestId('who').waitFor({ timeout: 60_000 });
    const sid = (await context.cookies()).find((c) => c.name === 'prana.sid');
    if (!sid) throw new Error('no session cookie after sign-in');
    const cookie = `prana.sid=${sid.value}`;

    const bff = async (path: string): Promise<{ ms: number; body: unknown }> => {
      const started = performance.now();
      const res = await fetch(`${prana.url}${path}`, { headers: { cookie, accept: 'application/json' }, signal: AbortSignal.timeout(60_000) });
      const text = await res.text();
      const ms = performance.now() - started;
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 200)}`);
      return { ms, body: JSON.parse(text) as unknown };
    };
    const timeBff = async (view: string, what: string, path: string, check: (body: unknown) => string | undefined): Promise<void> => {
      await bff(path); // warm (query plan, connections)
      const ms: number[] = [];
      let note: string | undefined;
      for (let i = 0; i < REPEAT; i++) {
        const r = await bff(path);
        ms.push(r.ms);
        note = check(r.body);
      }
      record(view, what, ms, note);
    };
    const timeRender = async (view: string, what: string, path: string, ready: (p: Page) => Promise<unknown>): Promise<void> => {
      const ms: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        const started = performance.now();
        await page.goto(`${prana.url}${path}`);
        await ready(page);
        ms.push(performance.now() - started);
      }
      record(view, what, ms, 'browser: navigation to content on screen');
    };
    const count = (key: string) => (body: unknown) => `${((body as Record<string, unknown[]>)[key] ?? []).length} rows`;

    // --- runs (Tasks and runs) ----------------------------------------------------------------------------
    await timeBff('runs', 'BFF first page (50)', '/api/core/runs?limit=50', count('runs'));
    await timeBff('runs', 'BFF filtered: status=failed (50)', '/api/core/runs?status=failed&limit=50', count('runs'));
    await timeBff('runs', 'BFF filtered: workflow + since 1 day (50)', `/api/core/runs?workflow=notify-ops&since=${encodeURIComponent(new Date(Date.now() - 86_400_000).toISOString())}&limit=50`, count('runs'));
    let cursor: string | null = null;
    let walked = 0;
    // Walk 500 at a time to the last 500 rows; the timed page is the 50 after them.
    while (walked + 500 < ROWS) {
      const r = (await bff(`/api/core/runs?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).body as { runs: unknown[]; next_cursor: string | null };
      walked += r.runs.length;
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    if (cursor) await timeBff('runs', `BFF deep page (50 after row ${walked})`, `/api/core/runs?limit=50&cursor=${encodeURIComponent(cursor)}`, count('runs'));
    await timeRender('runs', 'render / (50 rows)', '/', (p) => p.locator('table tbody tr').nth(49).waitFor({ timeout: 60_000 }));

    // --- workflows ----------------------------------------------------------------------------------------
    await timeBff('workflows', 'BFF definitions (live runs per version)', '/api/core/workflows', count('workflows'));
    const since7 = encodeURIComponent(new Date(Date.now() - 7 * 86_400_000).toISOString());
    await timeBff('workflows', 'BFF charts: 7-day series by hour (SQL)', '/api/core/workflows/stats?window=7d&name=onboard-learner&bucket=hour', count('series'));
    await timeBff('workflows', 'BFF charts: 7-day series by day (SQL)', '/api/core/workflows/stats?window=7d&name=onboard-learner&bucket=day', count('series'));
    await timeBff('workflows', 'BFF the workflow’s runs, first page (50)', `/api/core/runs?workflow=onboard-learner&since=${since7}&limit=50`, count('runs'));
    await timeRender('workflows', 'render /workflows', '/workflows', (p) => p.getByRole('link', { name: 'onboard-learner' }).first().waitFor({ timeout: 60_000 }));
    await timeRender('workflows', 'render /workflows/onboard-learner (charts + runs)', '/workflows/onboard-learner', async (p) => {
      await p.locator('.charts .recharts-wrapper').first().waitFor({ timeout: 60_000 });
      await p.locator('table tbody tr').nth(49).waitFor({ timeout: 60_000 });
    });

    // --- audit --------------------------------------------------------------------------------------------
    const deep = ROWS - 50;
    await timeBff('audit', 'BFF first page (50)', '/api/bucket/core/events?limit=50', count('events'));
    await timeBff('audit', 'BFF filtered: user_id (1 in 10 entries, 50)', '/api/bucket/core/events?user_id=bench-u3&limit=50', count('events'));
    await timeBff('audit', 'BFF filtered: trace_id (100 entries, 50)', `/api/bucket/core/events?trace_id=0007${'b'.repeat(28)}&limit=50`, count('events'));
    await timeBff('audit', `BFF filtered: user_id, deep (after seq ${deep})`, `/api/bucket/core/events?user_id=bench-u3&after_seq=${deep}&limit=50`, count('events'));
    await timeBff('audit', `BFF deep page (after seq ${deep})`, `/api/bucket/core/events?after_seq=${deep}&limit=50`, count('events'));
    await timeRender('audit', 'render /audit (50 entries)', '/audit', (p) => p.locator('.entry').nth(49).waitFor({ timeout: 60_000 }));
    await timeRender('audit', 'render /audit?user_id= (50 entries)', '/audit?user_id=bench-u3', (p) => p.locator('.entry').nth(49).waitFor({ timeout: 60_000 }));
    await timeRender('audit', `render /audit?after_seq=${deep}`, `/audit?after_seq=${deep}`, (p) => p.locator('.entry').nth(49).waitFor({ timeout: 60_000 }));

    // --- karma --------------------------------------------------------------------------------------------
    await timeBff('karma', `BFF profile (${ROWS} events)`, '/api/karma/api/v1/karma/admin', (b) => `net ${(b as { net_karma?: number }).net_karma}`);
    await timeBff('karma', 'BFF ledger history by day (30 days)', '/api/karma/v1/karma/admin/history?bucket=day', (b) => `${(b as { entries?: number }).entries} ledger entries`);
    await timeBff('karma', 'BFF ledger history by hour (48 hours)', '/api/karma/v1/karma/admin/history?bucket=hour', (b) => `${(b as { points?: unknown[] }).points?.length} points`);
    await timeRender('karma', 'render /karma (profile, heat map, chart)', '/karma', async (p) => {
      await p.locator('.heatmap').waitFor({ timeout: 60_000 });
      await p.locator('figure .recharts-wrapper').waitFor({ timeout: 60_000 });
    });

    const [l1, l5, l15] = loadavg();
    console.log(`\n[bench:prana] ${ROWS} rows per view, ${REPEAT} timed requests/renders each; load average ${l1.toFixed(2)} ${l5.toFixed(2)} ${l15.toFixed(2)} (2 cores shared with other work)`);
    console.log('| view | measurement | median ms | max ms | note |\n|---|---|---:|---:|---|');
    for (const r of rows) console.log(`| ${r.view} | ${r.what} | ${median(r.ms).toFixed(1)} | ${Math.max(...r.ms).toFixed(1)} | ${r.note ?? ''} |`);
    await context.close();
    return refused === 0 && karmaRefused === 0;
  } finally {
    await browser.close();
    await stop();
  }
});
