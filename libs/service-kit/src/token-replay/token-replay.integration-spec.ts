// Finding 7: a captured service token cannot be replayed for a write — not on the same instance, not on
// another replica of the service (they share its database) — while a read token may be reused.
import { createTestDatabase, poll, queryRows, type TestDatabase } from '@pancha/testing';
import { decodeJwt } from 'jose';
import { rmSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { startEdgeApp, testKeysDir, tokenAs, type EdgeTestApp } from '../edge.test-helpers';
import { PgTokenReplayStore } from './pg-token-replay.store';

const keysDir = testKeysDir();
let db: TestDatabase;
let a: EdgeTestApp;
let b: EdgeTestApp;

beforeAll(async () => {
  db = await createTestDatabase('edge_replay');
  a = await startEdgeApp({ databaseUrl: db.url, keysDir });
  b = await startEdgeApp({ databaseUrl: db.url, keysDir });
});
/** Stores a test made itself: their claims' connections go back to the pool before the apps close. */
const afterAllCloses: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of afterAllCloses) await close();
  await a?.close();
  await b?.close();
  await db?.drop();
  rmSync(keysDir, { recursive: true, force: true });
});

const write = (svc: EdgeTestApp, token: string, name: string) =>
  fetch(`${svc.url}/things`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ name }),
  });
const read = (svc: EdgeTestApp, token: string) => fetch(`${svc.url}/things`, { headers: { authorization: `Bearer ${token}` } });

describe('write tokens are single-use', () => {
  it('refuses a replayed write with 401 token_replayed and stores it once', async () => {
    const token = await tokenAs(keysDir);
    const before = await a.things();
    expect((await write(a, token, 'first')).status).toBe(201);
    const replay = await write(a, token, 'replayed');
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({
      code: 'token_replayed',
      message: `token ${decodeJwt(token).jti} was already used; every submit needs a fresh token`,
    });
    expect(await a.things()).toBe(before + 1);
  });

  it('refuses the replay on another replica of the service', async () => {
    const token = await tokenAs(keysDir);
    expect((await write(a, token, 'on-a')).status).toBe(201);
    expect((await write(b, token, 'replayed-on-b')).status).toBe(401);
  });

  it('lets exactly one of many concurrent uses of one token through, across replicas', async () => {
    const token = await tokenAs(keysDir);
    const before = await a.things();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => write(i % 2 ? a : b, token, `race-${i}`)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(9);
    expect(await a.things()).toBe(before + 1);
  });

  it('records the jti with its issuer and expiry in the service database', async () => {
    const token = await tokenAs(keysDir);
    await write(a, token, 'recorded');
    const { jti, exp } = decodeJwt(token);
    const rows = await queryRows<{ issuer: string; expires_at: Date }>(db.url, 'SELECT issuer, expires_at FROM used_tokens WHERE jti = $1', [jti]);
    expect(rows).toHaveLength(1);
    expect(rows[0].issuer).toBe('prana');
    expect(rows[0].expires_at.getTime()).toBe((Number(exp) + 5) * 1000);
  });

  it('accepts every write that comes with a fresh token', async () => {
    for (let i = 0; i < 5; i++) expect((await write(i % 2 ? a : b, await tokenAs(keysDir), `fresh-${i}`)).status).toBe(201);
  });
});

describe('read tokens may be reused within their lifetime', () => {
  it('answers the same read token again, on either replica, and records nothing', async () => {
    const token = await tokenAs(keysDir);
    for (const svc of [a, b, a, b]) expect((await read(svc, token)).status).toBe(200);
    const rows = await queryRows(db.url, 'SELECT 1 FROM used_tokens WHERE jti = $1', [decodeJwt(token).jti]);
    expect(rows).toHaveLength(0);
  });
});

describe('PgTokenReplayStore', () => {
  it('claims concurrent uses in one statement, each answered as if alone: first use wins, a repeat only with its binding', async () => {
    const store = new PgTokenReplayStore(a.app.get(DataSource));
    try {
      const live = new Date(Date.now() + 60_000);
      const tag = `group-${Date.now()}`;
      const uses = [
        ...Array.from({ length: 10 }, (_, i) => ({ issuer: 'bhiv_core', jti: `${tag}-${i}`, expiresAt: live })),
        { issuer: 'bhiv_core', jti: `${tag}-3`, expiresAt: live }, // a replay inside the group
        { issuer: 'karma', jti: `${tag}-3`, expiresAt: live }, // another issuer's jti of the same value
        { issuer: 'workflow_executor', jti: `${tag}-m`, expiresAt: live, binding: 'PANCHA:7' },
        { issuer: 'workflow_executor', jti: `${tag}-m`, expiresAt: live, binding: 'PANCHA:7' }, // a redelivery
        { issuer: 'workflow_executor', jti: `${tag}-m`, expiresAt: live, binding: 'PANCHA:8' }, // another message
      ];
      const answers = await Promise.all(uses.map((use) => store.claim(use)));
      expect(answers).toEqual([...Array(10).fill(true), false, true, true, true, false]);
      // Every row the group stored was written by one transaction: its one statement.
      const rows = await queryRows<{ tx: string }>(db.url, 'SELECT xmin::text AS tx FROM used_tokens WHERE jti LIKE $1', [`${tag}-%`]);
      expect(rows).toHaveLength(12);
      expect(new Set(rows.map((r) => r.tx)).size).toBe(1);
    } finally {
      await store.onModuleDestroy();
    }
  });

  it('lets redeliveries of one message (same binding) through and purges expired rows', async () => {
    let now = Date.now();
    const store = new PgTokenReplayStore(a.app.get(DataSource), () => now);
    afterAllCloses.push(() => store.onModuleDestroy());
    const use = { issuer: 'workflow_executor', jti: `jti-${now}`, expiresAt: new Date(Date.now() - 1000), binding: 'PANCHA:42' };
    expect(await store.claim(use)).toBe(true);
    expect(await store.claim({ ...use, expiresAt: new Date(Date.now() + 60_000), jti: `${use.jti}-live` })).toBe(true);
    expect(await store.claim({ ...use, expiresAt: new Date(Date.now() + 60_000), jti: `${use.jti}-live` })).toBe(true);
    expect(await store.claim({ ...use, expiresAt: new Date(Date.now() + 60_000), jti: `${use.jti}-live`, binding: 'PANCHA:43' })).toBe(false);
    // A message still retried after its claim expired (and before the purge) is the same message, not a replay.
    expect(await store.claim({ ...use, expiresAt: new Date(Date.now() + 60_000) })).toBe(true);
    expect(await store.claim({ ...use, expiresAt: new Date(Date.now() + 60_000), binding: 'PANCHA:44' })).toBe(false);
    now += 61_000;
    await store.claim({ ...use, jti: `${use.jti}-trigger`, expiresAt: new Date(Date.now() + 60_000) });
    // The purge runs beside the claim that triggered it.
    await poll('the expired row to be purged', async () =>
      (await queryRows(db.url, 'SELECT 1 FROM used_tokens WHERE jti = $1', [use.jti])).length === 0 ? true : undefined,
    );
  });
});
