// The live stream (GET /api/stream) and the karma history route, against a real oidc-provider and stand-ins.
import type { BucketEntry, RunListResponse, RunSummaryView } from '@pancha/contracts';
import { deferred, eventually, StandInServer, TestBrowser, type Deferred } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startPranaHarness, type PranaHarness } from '../testing/prana-harness';
import { FeedWatch } from './feed-watch.service';
import { RunWatch } from './run-watch.service';
import { StreamController } from './stream.controller';

jest.setTimeout(60_000);

function summary(run_id: string, status: RunSummaryView['status'], updated_at: string, patch: Partial<RunSummaryView> = {}): RunSummaryView {
  return {
    run_id, workflow: 'onboard', version: '1.0.0', status, user_id: 'u', product: null, trace_id: 'a'.repeat(32), parent_run_id: null,
    created_at: '2026-11-29T00:00:00.000Z', started_at: null, completed_at: null, duration_ms: null, error: null, updated_at, ...patch,
  };
}

/**
 * Core's change feed as a stand-in: runs with their updated_at; answers, `limit` at a time in (updated_at, run_id)
 * order, what changed after updated_since, or after the run its `cursor` (a page's next_cursor) names.
 */
let feed: RunSummaryView[] = [];
let hold: Deferred<void> | null = null;
let pending = 0;
const feedKey = (r: RunSummaryView) => `${r.updated_at}|${r.run_id}`;
const core = new StandInServer(async (req) => {
  if (req.path === '/runs' && req.query.get('updated_since')) {
    pending += 1;
    try {
      if (hold) await hold.promise;
    } finally {
      pending -= 1;
    }
    const since = req.query.get('updated_since')!;
    const cursor = req.query.get('cursor');
    const after = cursor ? Buffer.from(cursor, 'base64url').toString() : undefined;
    const runs = feed
      .filter((r) => (after ? feedKey(r) > after : r.updated_at! > since))
      .sort((a, b) => feedKey(a).localeCompare(feedKey(b)))
      .slice(0, Number(req.query.get('limit') ?? 50));
    const last = runs.at(-1);
    const body: RunListResponse = { runs, next_cursor: last ? Buffer.from(feedKey(last)).toString('base64url') : cursor, next_updated_since: last?.updated_at ?? null };
    return { status: 200, body };
  }
  return { status: 200, body: { path: req.path } };
});
/** The head of each user's Karma ledger (what the karma:<user> topic watches). */
const karmaCounts = new Map<string, { entries: number; last_seq: string | null; last_at: string | null }>();
const karma = new StandInServer((req) => {
  const user = /^\/v1\/karma\/([^/]+)\/head$/.exec(req.path)?.[1];
  if (user) return { status: 200, body: { user_id: decodeURIComponent(user), ...(karmaCounts.get(decodeURIComponent(user)) ?? { entries: 0, last_seq: null, last_at: null }) } };
  return { status: 200, body: { user_id: 'operator', bucket: req.query.get('bucket'), points: [] } };
});
/** Bucket's chain as a stand-in: its head (stats) and the entries after a seq. */
let chain: BucketEntry[] = [];
const bucket = new StandInServer((req) => {
  if (req.path === '/core/stats') return { status: 200, body: { size: chain.length, visible: chain.length, by_event_type: {}, by_channel: {}, by_requester: {} } };
  if (req.path === '/core/events') {
    const after = Number(req.query.get('after_seq') ?? 0);
    const limit = Number(req.query.get('limit') ?? 100);
    const rest = chain.filter((e) => e.seq > after);
    return { status: 200, body: { events: rest.slice(0, limit), next_after_seq: rest.length > limit ? rest[limit - 1].seq : null } };
  }
  return { status: 200, body: {} };
});
function bucketEntry(patch: Partial<BucketEntry>): BucketEntry {
  const seq = chain.length + 1;
  return {
    seq, event_id: randomUUID(), requester_id: 'bhiv_core', channel: 'core', event_type: 'task_received', trace_id: 'c'.repeat(32), product: null, user_id: null,
    event_data: { event_id: randomUUID(), event_type: 'task_received' }, content_hash: '0'.repeat(64), prev_hash: '0'.repeat(64), hash: '0'.repeat(64), created_at: new Date().toISOString(), ...patch,
  };
}

const opened: Stream[] = [];

interface Stream {
  status: number;
  events: Array<{ event: string; data: unknown }>;
  raw: string;
  close(): void;
}

async function open(browser: TestBrowser, url: string, topics: string): Promise<Stream> {
  const ac = new AbortController();
  const sid = browser.cookie(url, 'prana.sid');
  const res = await fetch(`${url}/api/stream?topics=${encodeURIComponent(topics)}`, { headers: sid ? { cookie: `prana.sid=${sid}`, accept: 'text/event-stream' } : {}, signal: ac.signal });
  const stream: Stream = { status: res.status, events: [], raw: '', close: () => ac.abort() };
  opened.push(stream);
  if (res.status !== 200 || !res.body) {
    stream.raw = await res.text();
    return stream;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        stream.raw += text;
        buffer += text;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) stream.events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
  })();
  return stream;
}

describe('PRANA live stream (GET /api/stream)', () => {
  let prana: PranaHarness;
  let operator: TestBrowser;
  let viewer: TestBrowser;
  const feedCalls = () => core.requests.filter((r) => r.path === '/runs' && r.query.get('updated_since')).length;

  beforeAll(async () => {
    await Promise.all([core.start(), karma.start(), bucket.start()]);
    prana = await startPranaHarness({
      CORE_URL: core.url, BUCKET_URL: bucket.url, KARMA_URL: karma.url,
      PRANA_STREAM_POLL_MS: '100', PRANA_STREAM_HEARTBEAT_MS: '200', PRANA_STREAM_MAX_PER_SESSION: '2',
    });
    operator = new TestBrowser();
    await operator.signIn(prana.url, 'operator', 'operator-pass-1');
    viewer = new TestBrowser();
    await viewer.signIn(prana.url, 'viewer', 'viewer-pass-1');
  });
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
    hold?.resolve();
    hold = null;
    core.down = false;
  });
  afterAll(async () => {
    await prana?.close();
    await Promise.all([core.close(), karma.close(), bucket.close()]);
  });

  it('is 401 without a session, and 400 naming topics for a bad topic', async () => {
    const anon = await open(new TestBrowser(), prana.url, 'runs');
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.raw)).toEqual(expect.objectContaining({ error: 'unauthenticated' }));
    const bad = await open(operator, prana.url, 'runs,everything');
    expect(bad.status).toBe(400);
    expect(bad.raw).toContain('topics');
    expect(prana.app.get(RunWatch).listening).toBe(0);
  });

  it('pushes a changed run to two subscribers from one upstream watch, by topic, with heartbeats; stops when both leave', async () => {
    const watch = prana.app.get(RunWatch);
    const runA = randomUUID();
    const runB = randomUUID();
    const before = feedCalls();
    const a = await open(operator, prana.url, 'runs');
    const b = await open(viewer, prana.url, `run:${runA}`);
    expect([a.status, b.status]).toEqual([200, 200]);
    await eventually(() => expect(a.events.map((e) => e.event)).toContain('ready'));
    expect(watch.listening).toBe(2);

    // The first ask sets the watch's position; from then on changes are pushed.
    await eventually(() => expect(feedCalls()).toBeGreaterThan(before + 1));
    // One watch: with Core's answer held, only one feed request is ever outstanding, however many listen.
    hold = deferred();
    await eventually(() => expect(pending).toBe(1));
    const heldAt = feedCalls();
    await eventually(() => expect(a.raw.split(': hb').length).toBeGreaterThan(3)); // ≥ 3 heartbeats (600 ms) pass
    expect(pending).toBe(1);
    expect(feedCalls()).toBe(heldAt);
    const now = new Date();
    feed = [summary(runA, 'running', new Date(now.getTime() + 1).toISOString()), summary(runB, 'running', new Date(now.getTime() + 2).toISOString())];
    hold.resolve();
    hold = null;

    await eventually(() => {
      const runs = a.events.filter((e) => e.event === 'runs').flatMap((e) => (e.data as { runs: RunSummaryView[] }).runs.map((r) => r.run_id));
      expect(runs).toEqual(expect.arrayContaining([runA, runB]));
    });
    await eventually(() => expect(b.events.some((e) => e.event === 'runs')).toBe(true));
    // The run topic carries only that run.
    const bRuns = b.events.filter((e) => e.event === 'runs').map((e) => e.data as { topic: string; runs: RunSummaryView[] });
    expect(bRuns.every((e) => e.topic === `run:${runA}` && e.runs.every((r) => r.run_id === runA))).toBe(true);

    // A later change is pushed once, not again on every poll.
    feed = [summary(runA, 'completed', new Date(now.getTime() + 3).toISOString()), feed[1]];
    await eventually(() => expect(b.events.filter((e) => e.event === 'runs').flatMap((e) => (e.data as { runs: RunSummaryView[] }).runs).map((r) => r.status)).toContain('completed'));
    const callsSeen = feedCalls();
    await eventually(() => expect(feedCalls()).toBeGreaterThan(callsSeen + 3));
    expect(b.events.filter((e) => e.event === 'runs').flatMap((e) => (e.data as { runs: RunSummaryView[] }).runs).filter((r) => r.status === 'completed')).toHaveLength(1);
    expect(feedCalls()).toBeGreaterThan(before);

    a.close();
    b.close();
    await eventually(() => {
      expect(watch.listening).toBe(0);
      expect(watch.running).toBe(false);
      expect(prana.app.get(StreamController).openStreams).toBe(0);
    });
    // The watch's timer is gone (running false): no more asks. Every feed request came from the one watch (an ask
    // sent just before the stop may still be on its way to the stand-in: wait for it, then none follows).
    await eventually(() => expect(feedCalls()).toBe(watch.upstreamCalls));
  });

  it('says ready only once the watch has its position (the view reloads on ready and misses nothing before it)', async () => {
    const watch = prana.app.get(RunWatch);
    await eventually(() => expect(watch.running).toBe(false));
    hold = deferred();
    const a = await open(operator, prana.url, 'runs');
    expect(a.status).toBe(200);
    await eventually(() => expect(pending).toBe(1));
    // The first ask (which sets the position) is held: no ready yet.
    await eventually(() => expect(a.raw).toContain('retry: 3000'));
    expect(a.events.map((e) => e.event)).not.toContain('ready');
    hold.resolve();
    hold = null;
    await eventually(() => expect(a.events.map((e) => e.event)).toContain('ready'));
    a.close();
  });

  it('pushes every run when more than a page of them change within the look-back window, and goes on after them', async () => {
    const watch = prana.app.get(RunWatch);
    await eventually(() => expect(watch.running).toBe(false));
    feed = [];
    const a = await open(operator, prana.url, 'runs');
    await eventually(() => expect(a.events.map((e) => e.event)).toContain('ready'));
    const pushed = () => new Set(a.events.filter((e) => e.event === 'runs').flatMap((e) => (e.data as { runs: RunSummaryView[] }).runs.map((r) => r.run_id)));
    // One statement's batch: 700 runs (more than the watch's page of 500) sharing one updated_at.
    const at = new Date(Date.now() + 1).toISOString();
    const burst = Array.from({ length: 700 }, () => summary(randomUUID(), 'completed', at));
    feed = burst;
    await eventually(() => expect(burst.filter((r) => !pushed().has(r.run_id)).length).toBe(0));
    // Still within the window of the burst, the next change is pushed too.
    const later = summary(randomUUID(), 'running', new Date(Date.parse(at) + 1).toISOString());
    feed = [...burst, later];
    await eventually(() => expect(pushed().has(later.run_id)).toBe(true));
    a.close();
  });

  it('after more than a page of runs changed just before the stream opened, the next change is pushed', async () => {
    const watch = prana.app.get(RunWatch);
    await eventually(() => expect(watch.running).toBe(false));
    feed = [];
    hold = deferred();
    const a = await open(operator, prana.url, 'runs');
    await eventually(() => expect(pending).toBe(1));
    // Within the first pass's look-back, read off the ask itself (not the clock: opening the stream may take long on a
    // busy machine): a millisecond after where it starts, before the stream opened. The view its person loads has them.
    const since = core.requests.filter((r) => r.path === '/runs' && r.query.get('updated_since')).at(-1)!.query.get('updated_since')!;
    const at = new Date(Date.parse(since) + 1).toISOString();
    const burst = Array.from({ length: 700 }, () => summary(randomUUID(), 'completed', at));
    feed = burst;
    hold.resolve();
    hold = null;
    await eventually(() => expect(a.events.map((e) => e.event)).toContain('ready'));
    const later = summary(randomUUID(), 'running', new Date(Date.parse(at) + 1).toISOString());
    feed = [...burst, later];
    const pushed = () => a.events.filter((e) => e.event === 'runs').flatMap((e) => (e.data as { runs: RunSummaryView[] }).runs.map((r) => r.run_id));
    await eventually(() => expect(pushed()).toContain(later.run_id));
    // The burst was the first pass's, all 700 of it over two pages: in the view, never pushed.
    expect(pushed()).toEqual([later.run_id]);
    a.close();
  });

  it('tells subscribers when Core is lost and when it is back', async () => {
    const a = await open(operator, prana.url, 'runs');
    await eventually(() => expect(a.events.map((e) => e.event)).toContain('ready'));
    core.down = true;
    await eventually(() => expect(a.events).toContainEqual({ event: 'upstream', data: expect.objectContaining({ up: false }) }));
    core.down = false;
    await eventually(() => expect(a.events).toContainEqual({ event: 'upstream', data: expect.objectContaining({ up: true }) }), 20_000);
    a.close();
  });

  it('bounds the streams of one session (429 beyond PRANA_STREAM_MAX_PER_SESSION)', async () => {
    const s1 = await open(operator, prana.url, 'runs');
    const s2 = await open(operator, prana.url, 'runs');
    const s3 = await open(operator, prana.url, 'runs');
    expect([s1.status, s2.status, s3.status]).toEqual([200, 200, 429]);
    // another session is not affected
    const v = await open(viewer, prana.url, 'runs');
    expect(v.status).toBe(200);
    for (const s of [s1, s2, v]) s.close();
    await eventually(() => expect(prana.app.get(StreamController).openStreams).toBe(0));
    const again = await open(operator, prana.url, 'runs');
    expect(again.status).toBe(200);
    again.close();
  });

  it('passes the karma ledger history on to Karma with its query', async () => {
    const res = await operator.json(`${prana.url}/api/karma/v1/karma/operator/history?bucket=hour`);
    expect(res.status).toBe(200);
    const seen = karma.requests.find((r) => r.path === '/v1/karma/operator/history');
    expect(seen?.query.get('bucket')).toBe('hour');
    expect(seen?.headers.authorization).toMatch(/^Bearer /);
  });

  it('passes on only runs of the products people may see (policy people.products)', async () => {
    // A policy where people see product "learning" only: a second BFF with it, on the same stand-ins.
    const dir = mkdtempSync(path.join(tmpdir(), 'prana-policy-'));
    const file = path.join(dir, 'policy.yaml');
    const policy = readFileSync(path.resolve(__dirname, '../../../../config/policy.yaml'), 'utf8');
    expect(policy).toMatch(/^ {2}products: \['\*'\]$/m);
    writeFileSync(file, policy.replace(/^ {2}products: \['\*'\]$/m, "  products: ['learning']"));
    const scoped = await startPranaHarness({ CORE_URL: core.url, BUCKET_URL: bucket.url, KARMA_URL: karma.url, PRANA_STREAM_POLL_MS: '100', PANCHA_POLICY_FILE: file });
    try {
      const browser = new TestBrowser();
      await browser.signIn(scoped.url, 'viewer', 'viewer-pass-1');
      const s = await open(browser, scoped.url, 'runs');
      expect(s.status).toBe(200);
      const before = feedCalls();
      await eventually(() => expect(feedCalls()).toBeGreaterThan(before + 1));
      const t = Date.now() + 10_000;
      const mine = summary(randomUUID(), 'running', new Date(t).toISOString(), { product: 'learning' });
      const theirs = summary(randomUUID(), 'running', new Date(t + 1).toISOString(), { product: 'billing' });
      const none = summary(randomUUID(), 'running', new Date(t + 2).toISOString(), { product: null });
      feed = [mine, theirs, none];
      await eventually(() => expect(s.events.some((e) => e.event === 'runs')).toBe(true));
      const seenIds = () => s.events.filter((e) => e.event === 'runs').flatMap((e) => (e.data as { runs: RunSummaryView[] }).runs.map((r) => r.run_id));
      // the watch handed all three to the stream: it passed on only the one of a product people see
      await eventually(() => expect(seenIds()).toEqual([mine.run_id]));
      expect(seenIds()).not.toContain(theirs.run_id);
      expect(seenIds()).not.toContain(none.run_id);
    } finally {
      await scoped.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('audit topics: one Bucket watch for every stream, new entries after the head pushed by trace, user or product; workflow definition changes on `workflows`', async () => {
    const feeds = prana.app.get(FeedWatch);
    chain = [];
    for (let i = 0; i < 3; i++) chain.push(bucketEntry({ user_id: 'asha' }));
    const all = await open(operator, prana.url, 'audit');
    const asha = await open(viewer, prana.url, 'audit:user:asha,audit:trace:' + 'e'.repeat(32));
    const wf = await open(viewer, prana.url, 'workflows');
    expect([all.status, asha.status, wf.status]).toEqual([200, 200, 200]);
    await eventually(() => expect(feeds.running).toEqual(['audit']));
    const calls = () => bucket.requests.filter((r) => r.path === '/core/events').length;
    // The head is found first; entries already there are not pushed.
    await eventually(() => expect(calls()).toBeGreaterThan(1));
    chain.push(bucketEntry({ user_id: 'ravi' }));
    chain.push(bucketEntry({ user_id: 'asha' }));
    chain.push(bucketEntry({ user_id: 'ravi', trace_id: 'e'.repeat(32) }));
    chain.push(bucketEntry({ event_type: 'workflow.disabled', channel: 'workflow', event_data: { event_id: randomUUID(), event_type: 'workflow.disabled', workflow: 'onboard-learner', actor: 'user:admin' } }));
    const seqs = (s: Stream, topic?: string) =>
      s.events.filter((e) => e.event === 'audit' && (!topic || (e.data as { topic: string }).topic === topic)).flatMap((e) => (e.data as { entries: BucketEntry[] }).entries.map((x) => x.seq));
    await eventually(() => expect(seqs(all)).toEqual([4, 5, 6, 7]));
    await eventually(() => expect(seqs(asha, 'audit:user:asha')).toEqual([5]));
    expect(seqs(asha, `audit:trace:${'e'.repeat(32)}`)).toEqual([6]);
    await eventually(() => expect(wf.events.filter((e) => e.event === 'workflows').map((e) => e.data)).toEqual([{ topic: 'workflows', workflows: ['onboard-learner'] }]));
    for (const s of [all, asha, wf]) s.close();
    await eventually(() => expect(feeds.running).toEqual([]));
    // One loop asked Bucket for all three streams: every call Bucket saw (its head, then the feed) is the watch's.
    await eventually(() => expect(calls() + bucket.requests.filter((r) => r.path === '/core/stats').length).toBe(feeds.upstreamCalls.get('audit')));
  });

  it('karma:<user> pushes when Karma records something for that user, and only for that user', async () => {
    const feeds = prana.app.get(FeedWatch);
    karmaCounts.clear();
    const s = await open(viewer, prana.url, 'karma:asha');
    expect(s.status).toBe(200);
    const asked = () => karma.requests.filter((r) => r.path === '/v1/karma/asha/head').length;
    await eventually(() => expect(asked()).toBeGreaterThan(1));
    karmaCounts.set('ravi', { entries: 1, last_seq: '7', last_at: '2026-11-29T10:00:00.000Z' });
    const seen = asked();
    await eventually(() => expect(asked()).toBeGreaterThan(seen + 1));
    expect(s.events.filter((e) => e.event === 'karma')).toEqual([]);
    karmaCounts.set('asha', { entries: 2, last_seq: '9', last_at: '2026-11-29T10:00:01.000Z' });
    await eventually(() =>
      expect(s.events.filter((e) => e.event === 'karma').map((e) => e.data)).toEqual([
        { topic: 'karma:asha', user_id: 'asha', marker: { entries: 2, last_seq: '9', last_at: '2026-11-29T10:00:01.000Z' } },
      ]),
    );
    s.close();
    await eventually(() => expect(feeds.running).toEqual([]));
  });

  it('names Bucket when its feed is lost and back, in ready and in upstream events', async () => {
    const feeds = prana.app.get(FeedWatch);
    await eventually(() => expect(feeds.running).toEqual([]));
    bucket.down = true;
    try {
      const s = await open(viewer, prana.url, 'audit');
      await eventually(() => expect(s.events.find((e) => e.event === 'ready')?.data).toEqual(expect.objectContaining({ upstream: 'down', down: ['bucket'] })));
      expect(s.events).toContainEqual({ event: 'upstream', data: expect.objectContaining({ service: 'bucket', up: false }) });
      bucket.down = false;
      await eventually(() => expect(s.events).toContainEqual({ event: 'upstream', data: expect.objectContaining({ service: 'bucket', up: true }) }), 20_000);
      s.close();
    } finally {
      bucket.down = false;
    }
  });

  it('a bad audit or karma topic is a 400 naming the topics', async () => {
    const noValue = await open(operator, prana.url, 'audit:user:');
    expect(noValue.status).toBe(400);
    const wrongKind = await open(operator, prana.url, 'audit:seq:4');
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.raw).toContain('audit:user:<id>');
  });
});
