import type { INestApplication } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { validateEnv } from '@pancha/service-kit';
import { bootServiceWithDatabase, routerEventsTo, type ServiceEnv, type ServiceWithDatabase, type ServiceWithDatabaseOptions, type TestKeys } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { BucketConfig } from '../config/env.validation';

/** Bucket's root module from an environment, validated as main.ts validates it. */
export const bucketModule = (env: ServiceEnv) => AppModule.forRoot(validateEnv(BucketConfig, env));

/**
 * Bucket on a test database with keys of its own (or the test's). Without `coreUrl` its router events are off:
 * they are tested in router-events/, and would otherwise go to a CORE_URL nobody started. With `coreUrl` its outbox
 * relays quickly over HTTP to that stand-in Core, and the scheduled verification is off unless `env` sets
 * BUCKET_VERIFY_INTERVAL_MS: a test decides when a verification runs.
 */
export function bootBucket(options: Omit<ServiceWithDatabaseOptions, 'module'> & { coreUrl?: string }): Promise<ServiceWithDatabase> {
  const { coreUrl, env, ...rest } = options;
  const events = coreUrl ? { ...routerEventsTo(coreUrl), BUCKET_VERIFY_INTERVAL_MS: '0' } : { BUCKET_ROUTER_EVENTS_ENABLED: 'false' };
  return bootServiceWithDatabase({ ...rest, module: bucketModule, env: { ...events, ...env } });
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
