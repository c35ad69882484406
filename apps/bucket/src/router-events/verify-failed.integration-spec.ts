import { ChainFault, CORE_EVENTS_BATCH_ROUTE, RequesterId } from '@pancha/contracts';
import { eventually, StandInServer, type ServiceWithDatabase } from '@pancha/testing';
import request from 'supertest';
import { bootBucket, tamperChain, writeCoreEvents } from '../testing/bucket-test-app';

jest.setTimeout(240_000);

interface OutboxRow {
  message_key: string;
  topic: string;
  status: string;
  payload: { id: string; type: string; source: string; data: Record<string, unknown> };
}

describe('audit.verify_failed (real PostgreSQL, outbox to a stand-in Core)', () => {
  let bucket: ServiceWithDatabase;
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');

  const get = async (url: string) => request(bucket.url).get(url).set('authorization', `Bearer ${await bucket.keys.mint(RequesterId.Core, 'bucket')}`);
  const outboxRows = (): Promise<OutboxRow[]> => bucket.dataSource.query(`SELECT message_key, topic, status, payload FROM outbox ORDER BY seq`);
  const tamper = (sql: string) => tamperChain(bucket.app, sql);
  const posted = () => core.requests.filter((r) => r.method === 'POST' && r.path === '/events');

  beforeAll(async () => {
    await core.start();
    bucket = await bootBucket({ database: 'bucket_verify_events', coreUrl: core.url, env: { BUCKET_VERIFY_BATCH_SIZE: '4' } });
    await writeCoreEvents(bucket.app, bucket.keys, 10);
  });

  afterAll(async () => {
    await bucket?.close();
    await core.close();
  });

  it('a sound chain publishes nothing', async () => {
    expect((await get('/audit/verify')).body).toMatchObject({ ok: true, size: 10 });
    expect((await get('/audit/verify?full=true')).body).toMatchObject({ ok: true, size: 10 });
    expect(await outboxRows()).toEqual([]);
  });

  it('a tampered entry: the finding is in the outbox when the answer says ok: false, reaches Core, and is published once', async () => {
    await tamper(`UPDATE bucket_entries SET event_data = event_data || '{"tampered": true}' WHERE seq = 6`);
    const found = await get('/audit/verify?full=true');
    expect(found.body).toMatchObject({ ok: false, first_bad_seq: 6, reason: ChainFault.ContentHashMismatch });

    // Durable before the answer: no waiting.
    const rows = await outboxRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      topic: 'core.bucket-event',
      message_key: 'bucket:verify_failed:6:content_hash_mismatch',
      payload: {
        id: 'bucket:verify_failed:6:content_hash_mismatch',
        type: 'audit.verify_failed',
        source: 'bucket',
        data: { seq: 6, reason: 'content_hash_mismatch' },
      },
    });
    // Only what identifies the finding: a later run that finds it again sends the same content (no 409 event_id_reused).
    expect(rows[0].payload.data).toEqual({ seq: 6, reason: 'content_hash_mismatch' });
    const sent = await eventually(() => {
      expect(posted()).toHaveLength(1);
      return posted()[0];
    }, { what: 'the finding to reach Core' });
    expect(sent.headers.authorization).toMatch(/^Bearer /);
    expect(sent.body).toEqual(rows[0].payload);
    await eventually(async () => expect((await outboxRows())[0].status).toBe('delivered'));

    // The same finding again (incremental and full): no second message.
    expect((await get('/audit/verify')).body).toMatchObject({ ok: false, first_bad_seq: 6 });
    expect((await get('/audit/verify?full=true')).body).toMatchObject({ ok: false, first_bad_seq: 6 });
    expect(await outboxRows()).toHaveLength(1);
  });

  it('another finding is another event', async () => {
    await tamper(`UPDATE bucket_entries SET requester_id = 'karma' WHERE seq = 3`);
    expect((await get('/audit/verify?full=true')).body).toMatchObject({ ok: false, first_bad_seq: 3, reason: ChainFault.HashMismatch });
    const rows = await outboxRows();
    expect(rows.map((r) => r.message_key)).toEqual(['bucket:verify_failed:6:content_hash_mismatch', 'bucket:verify_failed:3:hash_mismatch']);
    await eventually(() => expect(posted().map((r) => (r.body as { id: string }).id)).toEqual(rows.map((r) => r.payload.id)));
  });
});
