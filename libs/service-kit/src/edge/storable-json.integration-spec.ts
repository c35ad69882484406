// Input PostgreSQL cannot store (U+0000, unpaired surrogates) or nested too deep is a 422 naming the field, after
// the caller is authenticated and before anything is stored: through the app exactly as configureApp builds it.
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import { rmSync } from 'node:fs';
import { startEdgeApp, testKeysDir, tokenAs, type EdgeTestApp } from '../edge.test-helpers';

const keysDir = testKeysDir();
let db: TestDatabase;
let svc: EdgeTestApp;

beforeAll(async () => {
  db = await createTestDatabase('edge_storable');
  svc = await startEdgeApp({ databaseUrl: db.url, keysDir });
});
afterAll(async () => {
  await svc?.close();
  await db?.drop();
  rmSync(keysDir, { recursive: true, force: true });
});

const post = async (body: string, token?: string) =>
  fetch(`${svc.url}/things`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });

describe('storable JSON', () => {
  it('refuses a body holding U+0000 with 422 naming the field, and stores nothing', async () => {
    const res = await post(JSON.stringify({ name: 'a\u0000b' }), await tokenAs(keysDir));
    expect(res.status).toBe(422);
    const body = (await res.json()) as { code: string; errors: { field: string }[] };
    expect(body.code).toBe('validation_failed');
    expect(body.errors.map((d) => d.field)).toEqual(['name']);
    expect(await svc.things()).toBe(0);
  });

  it('refuses an unpaired surrogate in a member the DTO does not declare (the whole body is checked)', async () => {
    const res = await post('{"name":"ok","extra":{"deep":"\\ud800"}}');
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: { field: string }[] }).errors.map((d) => d.field)).toEqual(['extra.deep']);
    expect(await svc.things()).toBe(0);
  });

  it('refuses a body nested deeper than the limit', async () => {
    const res = await post(`{"name":"x","n":${'['.repeat(200)}${']'.repeat(200)}}`);
    expect(res.status).toBe(422);
    expect(await svc.things()).toBe(0);
  });

  it('refuses U+0000 in the query string', async () => {
    const res = await fetch(`${svc.url}/things?filter=a%00b`);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: { field: string }[] }).errors.map((d) => d.field)).toEqual(['filter']);
  });

  it('authenticates first: a forged token is 401 whatever the body holds', async () => {
    const res = await post(JSON.stringify({ name: 'a\u0000b' }), 'not.a.token');
    expect(res.status).toBe(401);
    expect(await svc.things()).toBe(0);
  });

  it('lets storable input through to validation and the handler', async () => {
    expect((await post(JSON.stringify({ name: 'fine' }))).status).toBe(201);
    expect(await svc.things()).toBe(1);
  });
});
