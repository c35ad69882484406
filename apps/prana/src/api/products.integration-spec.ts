// people.products (config/policy.yaml) applied to what PRANA asks of Bucket and Karma on a person's behalf: the
// console's reads and telemetry go with PRANA's token narrowed by a `products` claim (Bucket answers only those
// products' entries, and refuses a write into another), and telemetry naming another product, or none, is a 422.
// Karma keeps no products, so a restricted person reads only their own karma (any other user is a 403).
import { StandInServer, TestBrowser } from '@pancha/testing';
import { decodeJwt } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { standInBucket, startPranaHarness, type PranaHarness } from '../testing/prana-harness';

jest.setTimeout(60_000);

const bucket = standInBucket({ events: [] });
const karma = new StandInServer((req) => ({ status: req.method === 'POST' ? 201 : 200, body: { ok: true } }));
const core = new StandInServer(() => ({ status: 200, body: {} }));

const claimsOf = (req: { headers: Record<string, string | string[] | undefined> }) => decodeJwt((req.headers.authorization as string).slice('Bearer '.length));

describe("PRANA with people.products = ['alpha']", () => {
  let prana: PranaHarness;
  let dir: string;

  beforeAll(async () => {
    await Promise.all([bucket.start(), karma.start(), core.start()]);
    dir = mkdtempSync(path.join(tmpdir(), 'prana-policy-'));
    const file = path.join(dir, 'policy.yaml');
    const policy = readFileSync(path.resolve(__dirname, '../../../../config/policy.yaml'), 'utf8');
    expect(policy).toMatch(/^ {2}products: \['\*'\]$/m);
    writeFileSync(file, policy.replace(/^ {2}products: \['\*'\]$/m, "  products: ['alpha']"));
    prana = await startPranaHarness({ CORE_URL: core.url, BUCKET_URL: bucket.url, KARMA_URL: karma.url, WORKFLOW_EXECUTOR_URL: core.url, PANCHA_POLICY_FILE: file });
  });
  afterAll(async () => {
    await prana?.close();
    await Promise.all([bucket.close(), karma.close(), core.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const signedIn = async (username: string, password: string): Promise<{ browser: TestBrowser; csrf: string }> => {
    const browser = new TestBrowser();
    expect((await browser.signIn(prana.url, username, password)).status).toBe(302);
    return { browser, csrf: (await browser.json(`${prana.url}/api/session`)).body.csrf_token };
  };

  describe('GET /api/bucket and /api/karma', () => {
    it("asks Bucket and Karma with PRANA's token narrowed to the person's products", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      expect((await browser.json(`${prana.url}/api/bucket/core/events?product=beta`)).status).toBe(200);
      const read = bucket.requests.at(-1)!;
      expect(read.path).toBe('/core/events');
      expect(claimsOf(read)).toEqual(expect.objectContaining({ iss: 'prana', aud: 'bucket', products: ['alpha'] }));

      expect((await browser.json(`${prana.url}/api/karma/v1/karma/viewer/history?bucket=day`)).status).toBe(200);
      expect(claimsOf(karma.requests.at(-1)!)).toEqual(expect.objectContaining({ iss: 'prana', aud: 'karma', products: ['alpha'] }));
    });
  });

  describe('GET /api/session', () => {
    it('names the products people see', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      expect((await browser.json(`${prana.url}/api/session`)).body.products).toEqual(['alpha']);
    });
  });

  describe('Karma, which keeps no products: a restricted person reads only their own karma', () => {
    it('passes on their own profile, ledger history and head, and stats', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      for (const path of ['/api/v1/karma/viewer', '/v1/karma/viewer/history?bucket=hour', '/v1/karma/viewer/head', '/v1/stats/user/viewer', '/api/v1/karma/view%65r']) {
        const before = karma.requests.length;
        expect({ path, status: (await browser.json(`${prana.url}/api/karma${path}`)).status }).toEqual({ path, status: 200 });
        expect(karma.requests.length).toBe(before + 1);
      }
    });

    it("refuses another user's karma with 403 karma_outside_products, and asks Karma nothing", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const before = karma.requests.length;
      const res = await browser.json(`${prana.url}/api/karma/api/v1/karma/operator`);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        error: 'karma_outside_products',
        message: "Karma keeps no products, so people restricted to products (alpha) may read only their own karma (viewer), not operator's",
        products: ['alpha'],
        user_id: 'operator',
      });
      // Every spelling Karma's router would take, and the reads that name no user (the Q-table learns from everyone).
      for (const path of [
        '/v1/karma/operator/history?bucket=day',
        '/v1/karma/operator/head',
        '/v1/stats/user/operator',
        '/API/V1/KARMA/operator',
        '/v1/karma/operator/history/',
        '/v1/karma/VIEWER/head',
        '/api/v1/karma/viewer%2Fx',
        '/v1/q-table',
        '/v1/karma/viewer/history/extra',
      ]) {
        const r = await browser.json(`${prana.url}/api/karma${path}`);
        expect({ path, status: r.status, error: r.body.error }).toEqual({ path, status: 403, error: 'karma_outside_products' });
      }
      expect(karma.requests.length).toBe(before);
    });

    it("refuses the live karma:<user> topic of another user (403), and opens their own", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const sid = browser.cookie(prana.url, 'prana.sid') as string;
      const stream = async (topics: string) => {
        const ac = new AbortController();
        const res = await fetch(`${prana.url}/api/stream?topics=${encodeURIComponent(topics)}`, { headers: { cookie: `prana.sid=${sid}` }, signal: ac.signal });
        let body: unknown = null;
        if (res.status === 200) {
          // Until `ready`: the stream is open and watching (closing sooner leaves its bounded ready wait pending).
          const reader = res.body!.getReader();
          let text = '';
          for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
            text += new TextDecoder().decode(chunk.value);
            if (text.includes('event: ready')) break;
          }
          body = /event: ready\ndata: (.*)/.exec(text)?.[1];
        } else body = await res.json();
        ac.abort();
        return { status: res.status, body };
      };
      expect(await stream('runs,karma:operator')).toEqual({ status: 403, body: expect.objectContaining({ error: 'karma_outside_products', user_id: 'operator' }) });
      const own = await stream('karma:viewer');
      expect(own.status).toBe(200);
      expect(JSON.parse(own.body as string)).toEqual(expect.objectContaining({ topics: ['karma:viewer'] }));
    });
  });

  describe("Core's events: karma events carry no product, so a restricted person sees only their own", () => {
    const roleChanged = (user: string, seq: number) => ({
      event_id: `karma:role_changed:${seq}`,
      type: 'karma.role_changed',
      source: 'karma',
      subject: user,
      time: '2026-11-28T10:00:00.000Z',
      received_at: '2026-11-28T10:00:00.100Z',
      trace_id: 'a'.repeat(32),
      publisher: 'karma',
      decisions: [{ workflow: 'mentor-match', trigger: 'promoted', key: user, outcome: 'skipped', reason: 'condition_false' }],
    });
    const deployed = {
      event_id: 'deploy-1',
      type: 'deploy.finished',
      source: 'ci',
      subject: 'web',
      time: '2026-11-28T10:00:00.000Z',
      received_at: '2026-11-28T10:00:00.200Z',
      trace_id: 'b'.repeat(32),
      publisher: 'operator',
      decisions: [{ workflow: 'notify-ops', trigger: 'deployed', key: 'web', outcome: 'run', run_id: randomUUID() }],
    };
    const counts = { received: 1, matched: 1, runs_started: 0, skipped: {}, deferred: 0 };
    const stats = {
      since: '2026-11-27T10:00:00.000Z',
      ...counts,
      by_type: { 'karma.role_changed': counts, 'deploy.finished': counts },
      by_trigger: { 'mentor-match/promoted': { matched: 3, runs_started: 0, skipped: { condition_false: 3 }, deferred: 0 }, 'notify-ops/deployed': { matched: 1, runs_started: 1, skipped: {}, deferred: 0 } },
      noisiest_keys: [
        { workflow: 'mentor-match', trigger: 'promoted', key: 'kuser_14466', events: 2 },
        { workflow: 'mentor-match', trigger: 'promoted', key: 'viewer', events: 1 },
        { workflow: 'notify-ops', trigger: 'deployed', key: 'web', events: 1 },
      ],
    };
    let karmaPage: { events: unknown[]; next_cursor?: string } = { events: [roleChanged('kuser_14466', 755), roleChanged('viewer', 756)] };
    /** Core answers the stats, then goes away (every connection reset) before the karma events are listed. */
    let downAfterStats = false;
    beforeAll(() => {
      core.handler = (req) => {
        if (req.path === '/events/stats') {
          core.down = downAfterStats;
          return { status: 200, body: stats };
        }
        if (req.path === '/events/karma:role_changed:755') return { status: 200, body: { ...roleChanged('kuser_14466', 755), data: { user_id: 'kuser_14466', role: 'volunteer', previous_role: 'learner', merit: 80, net_karma: 75 } } };
        if (req.path === '/events/karma:role_changed:756') return { status: 200, body: { ...roleChanged('viewer', 756), data: { user_id: 'viewer', role: 'volunteer' } } };
        // Not Karma's own, but a karma event all the same: its data names another user than its subject.
        if (req.path === '/events/karma:forged') return { status: 200, body: { ...roleChanged('viewer', 757), publisher: 'operator', data: { user_id: 'kuser_14466' } } };
        if (req.path === '/events/deploy-1') return { status: 200, body: { ...deployed, data: { service: 'web' } } };
        if (req.path === '/events' && req.query.get('type') === 'karma.role_changed') return { status: 200, body: karmaPage };
        if (req.path === '/events') return { status: 200, body: { events: [roleChanged('kuser_14466', 755), deployed, roleChanged('viewer', 756)], next_cursor: 'c2' } };
        return { status: 404, body: { code: 'event_not_found' } };
      };
    });
    afterAll(() => {
      core.handler = () => ({ status: 200, body: {} });
    });

    it("refuses another user's karma event with 403 karma_outside_products, and shows their own and other events", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const other = await browser.json(`${prana.url}/api/core/events/karma:role_changed:755`);
      expect(other.status).toBe(403);
      expect(other.body).toEqual(expect.objectContaining({ error: 'karma_outside_products', products: ['alpha'], user_id: 'kuser_14466' }));
      expect(JSON.stringify(other.body)).not.toContain('net_karma');
      const forged = await browser.json(`${prana.url}/api/core/events/karma:forged`);
      expect({ status: forged.status, error: forged.body.error }).toEqual({ status: 403, error: 'karma_outside_products' });

      const own = await browser.json(`${prana.url}/api/core/events/karma:role_changed:756`);
      expect(own.status).toBe(200);
      expect(own.body.data).toEqual({ user_id: 'viewer', role: 'volunteer' });
      const notKarma = await browser.json(`${prana.url}/api/core/events/deploy-1`);
      expect(notKarma).toEqual({ status: 200, body: expect.objectContaining({ event_id: 'deploy-1', data: { service: 'web' } }) });
      expect((await browser.json(`${prana.url}/api/core/events/missing`)).status).toBe(404);
    });

    it("leaves other users' karma events out of a page, keeping Core's next_cursor", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const page = await browser.json(`${prana.url}/api/core/events?limit=3`);
      expect(page.status).toBe(200);
      expect(page.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(['deploy-1', 'karma:role_changed:756']);
      expect(page.body.next_cursor).toBe('c2');
      expect(core.requests.at(-1)!.query.get('limit')).toBe('3');
      const byType = await browser.json(`${prana.url}/api/core/events?type=karma.role_changed`);
      expect(byType.body.events.map((e: { subject: string }) => e.subject)).toEqual(['viewer']);
    });

    it('keeps the stats’ counts, but not the noisiest keys of the triggers karma events reach (bar their own)', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const res = await browser.json(`${prana.url}/api/core/events/stats`);
      expect(res.status).toBe(200);
      expect(res.body.by_type).toEqual(stats.by_type);
      expect(res.body.by_trigger).toEqual(stats.by_trigger);
      expect(res.body.noisiest_keys).toEqual([stats.noisiest_keys[1], stats.noisiest_keys[2]]);
      const asked = core.requests.filter((r) => r.path === '/events' && r.query.get('type') === 'karma.role_changed').at(-1)!;
      expect(Object.fromEntries(asked.query)).toEqual({ type: 'karma.role_changed', since: stats.since, limit: '500' });

      // More karma events than one page: which triggers they reach is not known, so no key but their own is shown.
      karmaPage = { events: [roleChanged('viewer', 756)], next_cursor: 'more' };
      try {
        const unsure = await browser.json(`${prana.url}/api/core/events/stats`);
        expect(unsure.body.noisiest_keys).toEqual([stats.noisiest_keys[1]]);
      } finally {
        karmaPage = { events: [roleChanged('kuser_14466', 755), roleChanged('viewer', 756)] };
      }
    });

    it('keeps the stats but no key but their own when Core does not answer the karma events’ list', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const listed = () => core.requests.filter((r) => r.path === '/events' && r.query.get('type') === 'karma.role_changed').length;
      const before = listed();
      downAfterStats = true;
      try {
        const res = await browser.json(`${prana.url}/api/core/events/stats`);
        expect(res.status).toBe(200);
        expect(res.body.by_type).toEqual(stats.by_type);
        expect(res.body.noisiest_keys).toEqual([stats.noisiest_keys[1]]);
        expect(listed()).toBe(before);
      } finally {
        downAfterStats = false;
        core.down = false;
      }
    });
  });

  describe("Karma's profile: the Q-table's row is not a person's own", () => {
    const profile = { user_id: 'viewer', merit: 10, role: 'learner', recommended_action: 'help', q_values: { help: 0.8, study: 0.2 } };
    beforeAll(() => {
      karma.handler = (req) => ({ status: 200, body: req.path.startsWith('/v1/stats/user/viewer') ? { ...profile, stats: { events: 1 } } : profile });
    });
    afterAll(() => {
      karma.handler = (req) => ({ status: req.method === 'POST' ? 201 : 200, body: { ok: true } });
    });

    it('leaves q_values out of their own profile and user stats', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const own = await browser.json(`${prana.url}/api/karma/api/v1/karma/viewer`);
      expect(own).toEqual({ status: 200, body: { user_id: 'viewer', merit: 10, role: 'learner', recommended_action: 'help' } });
      const ownStats = await browser.json(`${prana.url}/api/karma/v1/stats/user/viewer/`);
      expect(ownStats.status).toBe(200);
      expect(ownStats.body).not.toHaveProperty('q_values');
      expect(ownStats.body.stats).toEqual({ events: 1 });
    });
  });

  describe('POST /api/telemetry', () => {
    const packet = (product?: string) => ({
      event_id: randomUUID(),
      cognitive_state: 'DEEP_FOCUS',
      timestamp: new Date().toISOString(),
      ...(product ? { product } : {}),
    });

    it('refuses a packet of another product with 422 naming packets[i].product, and sends nothing', async () => {
      const { browser, csrf } = await signedIn('viewer', 'viewer-pass-1');
      const before = bucket.requests.length;
      const res = await browser.json(`${prana.url}/api/telemetry`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { packets: [packet('alpha'), packet('beta')] } });
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['packets[1].product']);
      expect(bucket.requests.length).toBe(before);
    });

    it('refuses a packet without a product with 422 naming packets[i].product, and stores nothing', async () => {
      const { browser, csrf } = await signedIn('viewer', 'viewer-pass-1');
      const [bucketBefore, karmaBefore] = [bucket.requests.length, karma.requests.length];
      const res = await browser.json(`${prana.url}/api/telemetry`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { packets: [packet('alpha'), packet()] } });
      expect(res.status).toBe(422);
      expect(res.body.error).toBe('validation_failed');
      expect(res.body.errors).toEqual([{ field: 'packets[1].product', messages: ['product is required: you may see only some products (alpha); name one of them'] }]);
      expect(bucket.requests.length).toBe(bucketBefore);
      expect(karma.requests.length).toBe(karmaBefore);
    });

    it("takes the person's own products, with the narrowed token to Bucket and Karma", async () => {
      const { browser, csrf } = await signedIn('viewer', 'viewer-pass-1');
      const karmaBefore = karma.requests.length;
      const res = await browser.json(`${prana.url}/api/telemetry`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { packets: [packet('alpha')] } });
      expect(res).toEqual({ status: 202, body: { accepted: 1, duplicates: 0 } });
      const ingest = bucket.requests.filter((r) => r.path === '/bucket/prana/ingest').at(-1)!;
      expect(claimsOf(ingest)).toEqual(expect.objectContaining({ aud: 'bucket', products: ['alpha'] }));
      const toKarma = karma.requests.slice(karmaBefore);
      expect(toKarma).toHaveLength(1);
      expect(claimsOf(toKarma[0])).toEqual(expect.objectContaining({ aud: 'karma', products: ['alpha'] }));
    });
  });
});
