// An upstream that fails after its headers (the connection drops, or the body stalls, mid-answer) is a 502/504
// naming the service, like one that cannot be reached: never PRANA's 500. Core here is a real HTTP server on
// 127.0.0.1 that answers `GET /runs` according to `?case=`.
import { TestBrowser } from '@pancha/testing';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { standInBucket, startPranaHarness, type PranaHarness } from '../testing/prana-harness';

jest.setTimeout(60_000);

const FULL = JSON.stringify({ runs: [{ run_id: 'r1', status: 'running' }] });

function startCore(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const answer = new URL(req.url ?? '/', 'http://core').searchParams.get('case');
    // Headers promise more than is ever sent.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(FULL.length) });
    if (answer === 'cut') res.write(FULL.slice(0, 10), () => res.socket?.destroy());
    else if (answer === 'stall') res.write(FULL.slice(0, 10));
    else res.end(FULL);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

describe('PRANA when an upstream fails mid-answer', () => {
  let prana: PranaHarness;
  let core: Server;
  const bucket = standInBucket();
  let browser: TestBrowser;

  beforeAll(async () => {
    const started = await startCore();
    core = started.server;
    await bucket.start();
    prana = await startPranaHarness({
      CORE_URL: started.url,
      WORKFLOW_EXECUTOR_URL: started.url,
      BUCKET_URL: bucket.url,
      KARMA_URL: bucket.url,
      // Long enough for the full answer on a busy machine; the stalled one waits it out.
      PRANA_UPSTREAM_TIMEOUT_MS: '2000',
    });
    browser = new TestBrowser();
    expect((await browser.signIn(prana.url, 'operator', 'operator-pass-1')).status).toBe(302);
  });
  afterAll(async () => {
    await prana?.close();
    core?.closeAllConnections();
    await new Promise((resolve) => core?.close(resolve));
    await bucket.close();
  });

  describe('GET /api/core/runs', () => {
    it("passes Core's whole answer on (the stand-in answers in full unless told otherwise)", async () => {
      const res = await browser.json(`${prana.url}/api/core/runs`);
      expect(res).toEqual({ status: 200, body: JSON.parse(FULL) });
    });

    it('is 502 service_unavailable naming core when the connection drops while PRANA reads the body', async () => {
      const res = await browser.json(`${prana.url}/api/core/runs?case=cut`);
      expect(res.status).toBe(502);
      expect(res.body).toEqual(expect.objectContaining({ error: 'service_unavailable', service: 'core' }));
    });

    it('is 504 service_unavailable naming core when the body stops coming until the upstream timeout', async () => {
      const res = await browser.json(`${prana.url}/api/core/runs?case=stall`);
      expect(res.status).toBe(504);
      expect(res.body).toEqual(expect.objectContaining({ error: 'service_unavailable', service: 'core' }));
    });
  });
});
