import type { INestApplication } from '@nestjs/common';
import { startDevIdp, type DevUser, type RunningDevIdp } from '@pancha/dev-idp';
import { validateEnv } from '@pancha/service-kit';
import { createTestKeys, freePort, StandInServer, type TestKeys } from '@pancha/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Clock } from '../clock';
import { PranaConfig } from '../config/env.validation';
import { createPranaApp } from '../prana-app';

/** A clock the test moves (session expiry without waiting). */
export class TestClock extends Clock {
  offsetMs = 0;
  override now(): number {
    return Date.now() + this.offsetMs;
  }
}

export const TEST_USERS: DevUser[] = [
  { username: 'admin', password: 'admin-pass-1', roles: ['admin'] },
  { username: 'operator', password: 'operator-pass-1', roles: ['operator'] },
  { username: 'viewer', password: 'viewer-pass-1', roles: ['viewer'] },
];

export interface PranaHarness {
  url: string;
  idp: RunningDevIdp;
  clock: TestClock;
  keys: TestKeys;
  app: INestApplication;
  close(): Promise<void>;
}

/**
 * A real oidc-provider (the dev IdP) and PRANA's BFF, each on a free port, in this process. `env` adds to
 * or overrides PRANA's variables (CORE_URL of a stand-in or a real Core, session lifetimes, …).
 */
export async function startPranaHarness(env: Record<string, string> = {}, options: { keys?: TestKeys; idp?: RunningDevIdp } = {}): Promise<PranaHarness> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'prana-test-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const secret = 'test-client-secret';
  const idp =
    options.idp ??
    (await startDevIdp({
      dataDir,
      users: TEST_USERS,
      audience: 'urn:pancha:api',
      clients: [{ client_id: 'prana', client_secret: secret, redirect_uris: [`${url}/auth/callback`], post_logout_redirect_uris: [`${url}/`] }],
    }));
  const keys = options.keys ?? createTestKeys();
  const clock = new TestClock();
  const config = validateEnv(PranaConfig, {
    HOST: '127.0.0.1',
    PORT: String(port),
    PRANA_PUBLIC_URL: url,
    PRANA_WEB_DIR: path.join(dataDir, 'web'),
    PANCHA_KEYS_DIR: keys.dir,
    OIDC_ISSUER: idp.issuer,
    OIDC_CLIENT_ID: 'prana',
    OIDC_CLIENT_SECRET: secret,
    OIDC_AUDIENCE: 'urn:pancha:api',
    OIDC_RESOURCE: 'urn:pancha:api',
    SESSION_SECRET: 'test-session-secret',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const silent = new Writable({ write: (_c, _e, cb) => cb() });
  const app = await createPranaApp(config, { clock, logDestination: silent });
  await app.listen(port, '127.0.0.1');
  return {
    url,
    idp,
    clock,
    keys,
    app,
    async close() {
      await app.close();
      if (!options.idp) await idp.close();
      if (!options.keys) keys.remove();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A stand-in Bucket: PRANA's telemetry ingest answered as Bucket answers it (every packet accepted), any other call 200 `other`. */
export function standInBucket(other: unknown = { ok: true }): StandInServer {
  return new StandInServer((req) =>
    req.path === '/bucket/prana/ingest'
      ? {
          status: 201,
          body: {
            accepted: (req.body as { packets: unknown[] }).packets.length,
            duplicates: 0,
            conflicts: 0,
            entries: (req.body as { packets: Array<{ event_id: string }> }).packets.map((p, i) => ({ event_id: p.event_id, seq: i + 1, duplicate: false, conflict: false })),
          },
        }
      : { status: 200, body: other },
  );
}
