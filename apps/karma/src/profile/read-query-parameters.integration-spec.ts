import { RequesterId } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import request from 'supertest';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(120_000);

/**
 * Every GET route of Karma takes only the query parameters it defines: a typo'd or unknown one is a 400 naming it,
 * never an answer that ignored it (`?buckets=hour` answered days), and a repeated one a 422 "is given more than once".
 */
describe('Karma read routes: query parameters (real PostgreSQL)', () => {
  let karma: ServiceWithDatabase;

  const get = async (url: string) => request(karma.url).get(url).set('authorization', `Bearer ${await karma.keys.mint(RequesterId.Core, 'karma')}`);

  beforeAll(async () => {
    karma = await bootKarma({ database: 'karma_query' });
    const res = await request(karma.url)
      .post('/v1/event/')
      .set('authorization', `Bearer ${await karma.keys.mint(RequesterId.Core, 'karma')}`)
      .send({ type: 'life_event', data: { user_id: 'q-user', action: 'completing_lessons' }, source: 'test' });
    expect(res.status).toBe(200);
  });

  afterAll(() => karma?.close());

  it.each([
    ['/v1/karma/q-user/history?buckets=hour', 'buckets', 'GET /v1/karma/:user_id/history takes since, until, bucket'],
    ['/v1/karma/q-user/history?bucket=hour&Since=2025-01-01T00:00:00Z', 'Since', 'GET /v1/karma/:user_id/history takes since, until, bucket'],
    ['/v1/karma/q-user/head?since=1', 'since', 'GET /v1/karma/:user_id/head takes none'],
    ['/api/v1/karma/q-user?role=guru', 'role', 'GET /api/v1/karma/:user_id takes none'],
    ['/v1/stats/user/q-user?window=7d', 'window', 'GET /v1/stats/user/:user_id takes none'],
    ['/v1/q-table?role=learner', 'role', 'GET /v1/q-table takes none'],
  ])('GET %s is a 400 naming %s, answering nothing', async (url, field, takes) => {
    const res = await get(url);
    expect({ status: res.status, code: res.body.code, fields: res.body.errors?.map((e: { field: string }) => e.field) }).toEqual({ status: 400, code: 'bad_request', fields: [field] });
    expect(res.body.message).toContain(takes);
    for (const answer of ['points', 'user_id', 'table', 'entries']) expect(res.body[answer]).toBeUndefined();
  });

  it('answers the parameters PRANA sends, and none', async () => {
    const hours = await get('/v1/karma/q-user/history?bucket=hour');
    expect([hours.status, hours.body.bucket]).toEqual([200, 'hour']);
    expect((await get('/v1/karma/q-user/history?since=2025-01-01T00:00:00Z&until=2025-01-02T00:00:00Z&bucket=day')).status).toBe(200);
    for (const url of ['/v1/karma/q-user/head', '/api/v1/karma/q-user', '/v1/stats/user/q-user', '/v1/q-table']) expect([url, (await get(url)).status]).toEqual([url, 200]);
  });

  it.each([
    ['/v1/karma/q-user/history?bucket=hour&bucket=day', 'bucket'],
    ['/v1/karma/q-user/history?since=2025-01-01T00:00:00Z&since=2025-01-02T00:00:00Z', 'since'],
  ])('GET %s is a 422: %s is given more than once', async (url, field) => {
    const res = await get(url);
    expect([res.status, res.body.code, res.body.errors]).toEqual([422, 'validation_failed', [{ field, messages: ['is given more than once'] }]]);
  });
});
