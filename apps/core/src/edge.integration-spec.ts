// Core at its edge, as a web page or a script would meet it: a cross-site form post is refused and stores
// no task, anonymous bursts are rate limited, and the outbox statistics need a credential.
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RequesterId, REQUESTER_IDS } from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, TokenIssuer } from '@pancha/governance';
import { configureApp, validateEnv } from '@pancha/service-kit';
import { createTestDatabase, queryRows, type TestDatabase } from '@pancha/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppModule } from './app.module';
import { CoreConfig } from './config/env.validation';

const keysDir = mkdtempSync(path.join(tmpdir(), 'core-edge-keys-'));
let db: TestDatabase;
let app: INestApplication;
let url: string;

const ANONYMOUS_LIMIT = 30;

beforeAll(async () => {
  ensureKeyPairs(keysDir, REQUESTER_IDS);
  db = await createTestDatabase('core_edge');
  const config = validateEnv(CoreConfig, {
    DATABASE_URL: db.url,
    PANCHA_KEYS_DIR: keysDir,
    LOG_LEVEL: 'silent',
    // Decide and record only: nothing here is about the executor or Bucket.
    ENABLE_WORKFLOW_EXECUTION: 'false',
    BUCKET_URL: 'http://127.0.0.1:9',
    RATE_LIMIT_ANONYMOUS_LIMIT: String(ANONYMOUS_LIMIT),
    RATE_LIMIT_ANONYMOUS_WINDOW_MS: '60000',
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  app = moduleRef.createNestApplication({ bodyParser: false });
  configureApp(app);
  await app.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await db?.drop();
  rmSync(keysDir, { recursive: true, force: true });
});

const tasks = async (): Promise<number> => (await queryRows<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM tasks'))[0].n;
const tokenAs = (who: RequesterId): Promise<string> => new TokenIssuer(loadKeyStore(who, { PANCHA_KEYS_DIR: keysDir })).tokenFor('core');

describe('POST /handle_task from another site', () => {
  it('refuses an HTML form post (the browser of any visitor could send it) with 415 and creates no task', async () => {
    const res = await fetch(`${url}/handle_task`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ input: 'send an email to boss@example.com saying hi', user_id: 'victim' }).toString(),
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ code: 'unsupported_media_type', message: expect.stringMatching(/application\/json/) });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(await tasks()).toBe(0);
  });

  it('still accepts the JSON the original clients send', async () => {
    const res = await fetch(`${url}/handle_task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'create a task to review the edge', user_id: 'u-edge' }),
    });
    expect(res.status).toBe(202);
    expect(await tasks()).toBe(1);
  });
});

describe('GET /outbox/stats', () => {
  it('needs a credential although anonymous callers may read their tasks', async () => {
    expect((await fetch(`${url}/outbox/stats`)).status).toBe(401);
    const res = await fetch(`${url}/outbox/stats`, { headers: { authorization: `Bearer ${await tokenAs(RequesterId.Prana)}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ emitted: expect.any(Number) });
  });
});

describe('anonymous bursts', () => {
  it('are answered 429 with Retry-After past the limit; authenticated prana submissions still pass', async () => {
    const send = (token?: string) =>
      fetch(`${url}/handle_task`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ input: 'create a task to count requests', user_id: 'u-burst' }),
      });
    const before = await tasks();
    const responses = await Promise.all(Array.from({ length: ANONYMOUS_LIMIT * 3 }, () => send()));
    const statuses = responses.map((r) => r.status);
    const limited = responses.filter((r) => r.status === 429);
    // The earlier requests of this file spent part of the budget already.
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(ANONYMOUS_LIMIT);
    expect(limited.length).toBeGreaterThanOrEqual(ANONYMOUS_LIMIT * 2);
    expect(limited[0].headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await limited[0].json()).toMatchObject({ code: 'rate_limited' });
    expect(await tasks()).toBe(before + statuses.filter((s) => s === 202).length);
    expect((await send(await tokenAs(RequesterId.Prana))).status).toBe(202);
  });
});
