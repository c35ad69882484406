// Shutdown (beforeApplicationShutdown, a phase ahead of the database pool's close) waits out a witness round in
// flight, so its checkpoint write does not run into a closing pool.
import type { BucketClient } from '@pancha/bucket-client';
import type { KeyStore } from '@pancha/governance';
import { deferred } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import type { CoreConfig } from '../config/env.validation';
import { AuditWitnessService } from './audit-witness.service';

describe('AuditWitnessService shutdown', () => {
  it('resolves only after the round in flight has ended', async () => {
    const checkpoint = deferred<never>();
    const events: string[] = [];
    const bucket = {
      checkpoint: () => {
        events.push('round started');
        return checkpoint.promise.finally(() => events.push('round ended'));
      },
    } as unknown as BucketClient;
    const service = new AuditWitnessService({} as DataSource, bucket, {} as KeyStore, { AUDIT_WITNESS_INTERVAL_MS: 0 } as CoreConfig);

    const round = service.witness().catch(() => undefined);
    const stopped = service.beforeApplicationShutdown().then(() => events.push('stopped'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['round started']);
    checkpoint.reject(new Error('bucket down'));
    await Promise.all([round, stopped]);
    expect(events).toEqual(['round started', 'round ended', 'stopped']);
  });
});
