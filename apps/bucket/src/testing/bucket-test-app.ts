import type { INestApplication } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { validateEnv } from '@pancha/service-kit';
import { bootService, type BootServiceOptions, type TestDatabase, type TestKeys } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { BucketConfig } from '../config/env.validation';

/**
 * Bucket on a test database, its outbox relaying quickly over HTTP (no NATS) to a stand-in Core at `coreUrl`. The
 * scheduled verification is off unless `env` sets BUCKET_VERIFY_INTERVAL_MS: a test decides when a verification runs.
 */
export async function bootBucket(
  options: { db: TestDatabase; keys: TestKeys; coreUrl: string; env?: Record<string, string> } & Pick<BootServiceOptions, 'override'>,
): Promise<INestApplication> {
  const env = {
    ...process.env,
    DATABASE_URL: options.db.url,
    PANCHA_KEYS_DIR: options.keys.dir,
    LOG_LEVEL: 'silent',
    CORE_URL: options.coreUrl,
    NATS_URL: '',
    OUTBOX_POLL_INTERVAL_MS: '50',
    OUTBOX_BASE_DELAY_MS: '50',
    OUTBOX_MAX_DELAY_MS: '200',
    BUCKET_VERIFY_INTERVAL_MS: '0',
    ...options.env,
  };
  const { app } = await bootService(AppModule.forRoot(validateEnv(BucketConfig, env)), { override: options.override });
  return app;
}

/** Appends `n` task events as Core does (POST /core/write-event), one at a time. */
export async function writeCoreEvents(app: INestApplication, keys: TestKeys, n = 1): Promise<void> {
  for (let i = 0; i < n; i++) {
    const event_id = randomUUID();
    const res = await request(app.getHttpServer())
      .post('/core/write-event')
      .set('authorization', `Bearer ${await keys.mint(RequesterId.Core, 'bucket')}`)
      .send({ requester_id: RequesterId.Core, event_data: { event_id, event_type: 'task_received' } });
    if (res.status !== 201) throw new Error(`write-event answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
}

/** What an attacker with the database superuser does: guards off, change a row, guards on. */
export function tamperChain(app: INestApplication, sql: string): Promise<void> {
  return app.get(DataSource).transaction(async (m) => {
    await m.query('ALTER TABLE bucket_entries DISABLE TRIGGER ALL');
    await m.query(sql);
    await m.query('ALTER TABLE bucket_entries ENABLE TRIGGER ALL');
  });
}
