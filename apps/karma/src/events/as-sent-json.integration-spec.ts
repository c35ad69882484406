// Karma events whose data holds members named __proto__, constructor or prototype at depth (a context or metadata
// object as a producer sent it), on the real app and PostgreSQL: answered per event, never a 500.
import { canonicalJson, KARMA_EVENTS_ROUTE, RequesterId } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(60_000);

const AS_SENT = '{"list":[{"__proto__":{"polluted":true},"constructor":1,"prototype":{"p":[{"constructor":{"x":2}}]}}],"plain":"v"}';

describe('karma events holding __proto__, constructor, prototype members (HTTP, real PostgreSQL)', () => {
  let karma: ServiceWithDatabase;

  /** Posts `raw` as sent (a JSON text, so members such as __proto__ reach the server as they are written). */
  const postRaw = async (url: string, raw: string) =>
    request(karma.url)
      .post(url)
      .set('authorization', `Bearer ${await karma.keys.mint(RequesterId.WorkflowExecutor, 'karma')}`)
      .set('content-type', 'application/json')
      .send(raw);
  const lifeEvent = (eventId: string, odd: boolean) =>
    `{"type":"life_event","source":"workflow_executor","data":{"event_id":"${eventId}","user_id":"as-sent-user","action":"workflow_success",` +
    `"context":${odd ? AS_SENT : '{"trace_id":"t"}'},"metadata":${odd ? AS_SENT : '{}'}}}`;
  const recorded = async (ids: string[]): Promise<number> =>
    (await karma.dataSource.query('SELECT count(*)::int AS n FROM karma_event WHERE event_id = ANY($1)', [ids]))[0].n;

  beforeAll(async () => {
    karma = await bootKarma({ database: 'karma_as_sent' });
  });

  afterAll(() => karma?.close());

  it('a batch item holding a nested __proto__ object is answered on its own (200) beside its neighbours, never a 500', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const res = await postRaw(KARMA_EVENTS_ROUTE, `{"events":[${ids.map((id, i) => `{"body":${lifeEvent(id, i === 1)}}`).join(',')}]}`);
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([200, 200, 200]);
    expect(await recorded(ids)).toBe(3);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('the single route records the same event (200), never a 500', async () => {
    const id = randomUUID();
    const res = await postRaw('/v1/event/', lifeEvent(id, true));
    expect(res.status).toBe(200);
    expect(await recorded([id])).toBe(1);
  });

  it('records the context and metadata as sent, and the retry as sent is the replay', async () => {
    const id = randomUUID();
    expect((await postRaw('/v1/event/', lifeEvent(id, true))).status).toBe(200);
    const [row] = (await karma.dataSource.query('SELECT details::text AS t FROM karma_ledger WHERE event_id = $1', [id])) as { t: string }[];
    const details = JSON.parse(row.t) as { context: unknown; metadata: unknown };
    expect(canonicalJson(details.context)).toBe(canonicalJson(JSON.parse(AS_SENT)));
    expect(canonicalJson(details.metadata)).toBe(canonicalJson(JSON.parse(AS_SENT)));
    const retry = await postRaw('/v1/event/', lifeEvent(id, true));
    expect([retry.status, retry.headers['idempotent-replay']]).toEqual([200, 'true']);
  });
});
