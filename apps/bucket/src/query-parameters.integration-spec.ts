import { RequesterId } from '@pancha/contracts';
import type { BucketEntry } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bootBucket } from './testing/bucket-test-app';

jest.setTimeout(60_000);

/**
 * Every GET route of Bucket takes only the query parameters it defines: a typo'd or unknown one is a 400 naming it,
 * never the unfiltered answer taken for a filtered one, and a repeated one a 422 "is given more than once", not the
 * words of whatever validator read the array.
 */
describe('Bucket read routes: query parameters (HTTP, real PostgreSQL)', () => {
  let bucket: ServiceWithDatabase;
  const traceA = 'a'.repeat(32);
  const traceB = 'b'.repeat(32);

  const get = async (url: string, who: RequesterId = RequesterId.Core) =>
    request(bucket.url).get(url).set('authorization', `Bearer ${await bucket.keys.mint(who, 'bucket')}`);

  beforeAll(async () => {
    bucket = await bootBucket({ database: 'bucket_query' });
    for (const trace_id of [traceA, traceA, traceB]) {
      const res = await request(bucket.url)
        .post('/core/write-event')
        .set('authorization', `Bearer ${await bucket.keys.mint(RequesterId.Core, 'bucket')}`)
        .send({ requester_id: RequesterId.Core, event_data: { event_id: randomUUID(), event_type: 'task_received', trace_id, user_id: 'agent-1' } });
      expect(res.status).toBe(201);
    }
  });

  afterAll(() => bucket?.close());

  it.each([
    ['/core/events?traceid=abc&limit=2', 'traceid', 'GET /core/events takes trace_id, product, user_id, after_seq, limit'],
    ['/core/events?trace_id[a]=1', 'trace_id[a]', 'GET /core/events takes'],
    ['/core/events?trace_id=' + 'a'.repeat(32) + '&Product=p1', 'Product', 'GET /core/events takes'],
    ['/core/stats?product=p1', 'product', 'GET /core/stats takes none'],
    ['/core/read-context?agent_id=agent-1&limt=1', 'limt', 'GET /core/read-context takes agent_id, limit'],
    ['/audit/verify?x=1', 'x', 'GET /audit/verify takes full'],
    ['/audit/verify?ful=true', 'ful', 'GET /audit/verify takes full'],
    ['/audit/checkpoint?size=1', 'size', 'GET /audit/checkpoint takes none'],
    ['/bucket/prana/user/u-1?limt=1', 'limt', 'GET /bucket/prana/user/:user_id takes limit'],
  ])('GET %s is a 400 naming %s, answering nothing', async (url, field, takes) => {
    const res = await get(url, url.startsWith('/bucket/prana') ? RequesterId.Prana : RequesterId.Core);
    expect({ status: res.status, code: res.body.code, fields: res.body.errors?.map((e: { field: string }) => e.field) }).toEqual({ status: 400, code: 'bad_request', fields: [field] });
    expect(res.body.message).toContain(takes);
    expect(res.body.errors[0].messages[0]).toMatch(/^is not a query parameter of GET \//);
    for (const answer of ['events', 'size', 'ok', 'visible', 'packets', 'head_hash']) expect(res.body[answer]).toBeUndefined();
  });

  it('names the filter a typo meant, and still answers the parameters the clients send', async () => {
    expect((await get('/core/events?traceid=abc')).body.errors[0].messages[0]).toBe('is not a query parameter of GET /core/events: the trace filter is trace_id');
    const page = await get(`/core/events?trace_id=${traceA}&limit=2`);
    expect(page.status).toBe(200);
    expect(page.body.events.map((e: BucketEntry) => e.trace_id)).toEqual([traceA, traceA]);
    expect((await get(`/core/events?user_id=agent-1&product=none&after_seq=0&limit=1`)).status).toBe(200);
    expect((await get('/core/read-context?agent_id=agent-1&limit=1')).body.events).toHaveLength(1);
    expect((await get('/audit/verify?full=true')).body.ok).toBe(true);
    expect((await get('/core/stats')).status).toBe(200);
    expect((await get('/audit/checkpoint')).status).toBe(200);
    expect((await get('/bucket/prana/user/u-1?limit=5', RequesterId.Prana)).status).toBe(200);
  });

  it.each([
    ['/core/events?limit=1&limit=2', 'limit'],
    [`/core/events?trace_id=${traceA}&trace_id=${traceB}`, 'trace_id'],
    ['/core/events?after_seq=0&after_seq=1', 'after_seq'],
    ['/core/read-context?agent_id=a&agent_id=b', 'agent_id'],
    ['/audit/verify?full=true&full=false', 'full'],
    ['/bucket/prana/user/u-1?limit=1&limit=2', 'limit'],
  ])('GET %s is a 422: %s is given more than once', async (url, field) => {
    const res = await get(url, url.startsWith('/bucket/prana') ? RequesterId.Prana : RequesterId.Core);
    expect([res.status, res.body.code, res.body.errors]).toEqual([422, 'validation_failed', [{ field, messages: ['is given more than once'] }]]);
    expect(res.body.message).toBe(`${field} is given more than once`);
  });

  it('checks the credential first: an unknown parameter without one is still a 401', async () => {
    expect((await request(bucket.url).get('/core/events?traceid=abc')).status).toBe(401);
  });
});
