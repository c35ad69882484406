// Secrets in config are marked @Secret() and never reach a log line, a dump of the config or a
// configuration error message.
import { Logger } from '@nestjs/common';
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import { IsOptional, IsString, Matches } from 'class-validator';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { inspect } from 'node:util';
import pino from 'pino';
import { startEdgeApp, testKeysDir } from '../edge.test-helpers';
import { BaseServiceConfig, validateEnv } from './env.validation';
import { REDACTED, redactConfig, Secret, secretNames } from './secret';

const DB_PASSWORD = 'db-pass-7Qx2';
const KEY_PEM = '-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIL0ngWithAVerySecretBody\\n-----END PRIVATE KEY-----';
const REDIS_PASSWORD = 'redis-pass-9Kd';
const API_KEY = 'sk-live-3f9a8b7c6d5e4f3a';

class AppLikeConfig extends BaseServiceConfig {
  @Secret() @IsOptional() @IsString()
  LLM_API_KEY?: string;

  // An app validator that quotes the bad value, which must still never show a secret.
  @Secret() @IsOptional() @Matches(/^smtps?:\/\/\S+$/, { message: 'SMTP_URL must be smtp(s)://…, got $value' })
  SMTP_URL?: string;

  @IsOptional() @IsString()
  LLM_MODEL = 'gpt-4o-mini';
}

const env = {
  DATABASE_URL: `postgres://postgres:${DB_PASSWORD}@127.0.0.1:5432/x`,
  SERVICE_PRIVATE_KEY: KEY_PEM,
  REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:6379`,
  LLM_API_KEY: API_KEY,
};
const SECRETS = [DB_PASSWORD, 'AVerySecretBody', REDIS_PASSWORD, API_KEY];

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

describe('@Secret() config properties', () => {
  const config = validateEnv(AppLikeConfig, env);

  it('are known by name, the base class ones and the app ones', () => {
    expect(secretNames(config)).toEqual(expect.arrayContaining(['DATABASE_URL', 'LLM_API_KEY', 'REDIS_URL', 'SERVICE_PRIVATE_KEY', 'SMTP_URL']));
    expect(secretNames(config)).not.toContain('LLM_MODEL');
    expect(secretNames(new BaseServiceConfig())).not.toContain('LLM_API_KEY');
  });

  it('keep their values for the code that needs them', () => {
    expect(config.LLM_API_KEY).toBe(API_KEY);
    expect(config.DATABASE_URL).toContain(DB_PASSWORD);
  });

  it('print as [redacted] through JSON.stringify, util.inspect, template strings and pino', () => {
    expectNoSecret(JSON.stringify(config));
    expectNoSecret(inspect(config, { depth: 5 }));
    expectNoSecret(`${inspect({ nested: { config } })}`);
    expect(JSON.parse(JSON.stringify(config))).toMatchObject({ LLM_API_KEY: REDACTED, LLM_MODEL: 'gpt-4o-mini' });
    expect(redactConfig(config)).toMatchObject({ DATABASE_URL: REDACTED });
    expect(redactConfig(config).SMTP_URL).toBeUndefined();
    const out = new PassThrough();
    let logged = '';
    out.on('data', (chunk: Buffer) => (logged += chunk.toString()));
    pino({}, out).info({ config }, 'starting');
    expect(logged).toContain('"LLM_API_KEY":"[redacted]"');
    expectNoSecret(logged);
  });

  it('are never quoted by a configuration error, even by a validator that quotes its input', () => {
    const badSmtp = `smtp://user:${API_KEY} spaces`;
    let message = '';
    try {
      validateEnv(AppLikeConfig, { ...env, SMTP_URL: badSmtp, PORT: 'eighty' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/SMTP_URL: SMTP_URL must be smtp\(s\):\/\/…, got \[redacted\]/);
    expect(message).toMatch(/PORT/);
    expectNoSecret(message);
  });
});

describe('a running service', () => {
  const keysDir = testKeysDir();
  let db: TestDatabase;
  afterAll(async () => {
    await db?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('logs its requests, errors and a dumped config without any secret', async () => {
    db = await createTestDatabase('edge_secrets');
    const out = new PassThrough();
    let logged = '';
    out.on('data', (chunk: Buffer) => (logged += chunk.toString()));
    const withPassword = new URL(db.url);
    withPassword.password = DB_PASSWORD; // trust authentication ignores it; the URL still carries it
    const svc = await startEdgeApp({
      databaseUrl: withPassword.toString(),
      keysDir,
      logDestination: out,
      env: { LOG_LEVEL: 'trace', REDIS_URL: env.REDIS_URL, SERVICE_PRIVATE_KEY: readFileSync(path.join(keysDir, 'bhiv_core.key.pem'), 'utf8') },
    });
    try {
      expect((await fetch(`${svc.url}/things`)).status).toBe(200);
      expect((await fetch(`${svc.url}/things`, { headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(401);
      await fetch(`${svc.url}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name": 1}' });
      new Logger('Test').log({ msg: 'config at start', config: svc.config });
    } finally {
      await svc.close();
    }
    expect(logged).toContain('config at start');
    expect(logged).toContain('"DATABASE_URL":"[redacted]"');
    expect(logged).toContain('"req":{"method":"GET","url":"/things"},"res":{"status_code":401}');
    expectNoSecret(logged);
    expect(logged).not.toContain(readFileSync(path.join(keysDir, 'bhiv_core.key.pem'), 'utf8').split('\n')[1]);
  });
});
