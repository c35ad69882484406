// Finding 3 (cross-site requests) and 11 (X-Powered-By): JSON endpoints take JSON only, CORS is an explicit
// allow-list, and nothing advertises the framework.
import { createTestDatabase, poll, type TestDatabase } from '@pancha/testing';
import { rmSync } from 'node:fs';
import { startEdgeApp, testKeysDir, type EdgeTestApp } from '../edge.test-helpers';
import { logLines } from '../logging/log-lines.test-helpers';

const keysDir = testKeysDir();
let db: TestDatabase;
let svc: EdgeTestApp;
const log = logLines();

beforeAll(async () => {
  db = await createTestDatabase('edge_json');
  svc = await startEdgeApp({ databaseUrl: db.url, keysDir, logDestination: log.destination, env: { LOG_LEVEL: 'warn' } });
});
afterAll(async () => {
  await svc?.close();
  await db?.drop();
  rmSync(keysDir, { recursive: true, force: true });
});

const post = (contentType: string | undefined, body: string) =>
  fetch(`${svc.url}/things`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });

describe('JSON only', () => {
  it('refuses an HTML form post (application/x-www-form-urlencoded) with 415 and stores nothing', async () => {
    const res = await post('application/x-www-form-urlencoded', 'name=from-a-web-page');
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({
      code: 'unsupported_media_type',
      message: 'request body must be application/json (Content-Type: application/x-www-form-urlencoded)',
      trace_id: null,
    });
    expect(await svc.things()).toBe(0);
  });

  it('logs the refusal: a request the edge answers before any route still has its completion line', async () => {
    const res = await fetch(`${svc.url}/things?refused-and-logged`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(res.status).toBe(415);
    const line = await poll('the 415 line', async () => log.lines.find((l) => (l.req as { url?: string } | undefined)?.url === '/things?refused-and-logged'));
    expect(line).toEqual(expect.objectContaining({ level: 40, msg: 'request completed', req: { method: 'POST', url: '/things?refused-and-logged' }, res: { status_code: 415 }, service: 'core' }));
  });

  it.each([
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nform\r\n--x--\r\n'],
    ['text/plain', '{"name":"text-plain-json"}'],
    [undefined, '{"name":"no-content-type"}'],
  ])('refuses a %s body with 415', async (type, body) => {
    const res = await post(type, body);
    expect(res.status).toBe(415);
    expect(((await res.json()) as { code: string }).code).toBe('unsupported_media_type');
    expect(await svc.things()).toBe(0);
  });

  it('accepts JSON (with a charset, and +json media types)', async () => {
    expect((await post('application/json; charset=utf-8', '{"name":"a"}')).status).toBe(201);
    expect((await post('application/vnd.pancha+json', '{"name":"b"}')).status).toBe(201);
    expect(await svc.things()).toBe(2);
  });

  it.each([
    ['null', 'null'],
    ['"x"', 'a string'],
    [' 5', 'a number'],
    ['true', 'a boolean'],
  ])('answers a JSON body that is not an object or array (%s) with a 400 saying so, not "not valid JSON"', async (body, what) => {
    const res = await post('application/json', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 'bad_request', message: `request body must be a JSON object or array, got ${what}`, trace_id: null });
    expect(await svc.things()).toBe(2);
  });

  it('still answers a body that is not JSON as invalid_json', async () => {
    const res = await post('application/json', 'nul');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid_json');
    expect(await svc.things()).toBe(2);
  });

  it('leaves requests without a body alone (they meet validation, not 415)', async () => {
    const res = await fetch(`${svc.url}/things`, { method: 'POST' });
    expect(res.status).toBe(422);
    expect((await fetch(`${svc.url}/things`)).status).toBe(200);
  });
});

describe('response headers', () => {
  it('does not send X-Powered-By', async () => {
    const res = await fetch(`${svc.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});

describe('CORS', () => {
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/things`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });

  it('allows no origin by default: no CORS headers on a preflight or a request', async () => {
    const pre = await preflight(svc.url, 'https://evil.example');
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await fetch(`${svc.url}/things`, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows exactly the origins in CORS_ORIGINS', async () => {
    const other = await startEdgeApp({
      databaseUrl: db.url,
      keysDir,
      env: { CORS_ORIGINS: 'https://app.example.org, http://localhost:3000' },
    });
    try {
      const ok = await preflight(other.url, 'https://app.example.org');
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
      expect(ok.headers.get('access-control-allow-headers')).toMatch(/content-type/);
      const local = await fetch(`${other.url}/things`, { headers: { origin: 'http://localhost:3000' } });
      expect(local.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      const evil = await preflight(other.url, 'https://evil.example');
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await other.close();
    }
  });
});
