// A credential publishes only for its products: an event whose data.product is outside them is a 403 naming
// data.product (POST /events alone or in an array, POST /events/batch), nothing stored; and a publisher's id stored
// under a credential of other products is a 409 that does not claim another publisher. The real app on PostgreSQL,
// a stand-in executor serving the catalog and taking run starts, a stand-in Bucket.
import { CORE_EVENTS_BATCH_ROUTE, RequesterId } from '@pancha/contracts';
import { httpJson, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { bootCoreSpec } from '../testing/core-test-app';
import { catalogExecutor } from '../testing/catalog-executor';

jest.setTimeout(90_000);

const parsed = parseManifest(`
name: basic
version: 1.0.0
security: { actions: [task] }
triggers: [{ name: any, event: t.basic }]
steps: [{ id: a, action: task, with: { title: x } }]
`);
if (!parsed.manifest) throw new Error(JSON.stringify(parsed));
const BASIC = parsed.manifest;

const executor = catalogExecutor([BASIC]);
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('Core event router: a publisher held to its products', () => {
  let core: ServiceWithDatabase;
  let dataSource: DataSource;

  const token = async (products?: string[]) => core.keys.mint(RequesterId.Operator, 'core', products ? { products } : undefined);
  const send = async (route: string, body: unknown, products?: string[]) => httpJson('POST', `${core.url}${route}`, body, await token(products));
  const publish = (body: unknown, products?: string[]) => send('/events', body, products);
  const stored = async (...ids: string[]): Promise<string[]> =>
    ((await dataSource.query(`SELECT event_id FROM events WHERE event_id = ANY($1::text[]) ORDER BY event_id`, [ids])) as { event_id: string }[]).map((r) => r.event_id);
  const runProducts = async (id: string): Promise<unknown[]> =>
    ((await dataSource.query(`SELECT product FROM workflow_run_requests WHERE source = $1`, [`event:${id}`])) as { product: unknown }[]).map((r) => r.product);

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_events_product_scope', executor, bucket, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' } });
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  it('POST /events: a token narrowed to p1 publishing an event of product p3 is a 403 naming data.product, nothing stored; its retry is the same 403', async () => {
    const event = { id: 'ps-p3', type: 't.basic', data: { user_id: 'alice', product: 'p3' } };
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await publish(event, ['p1']);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'forbidden', message: expect.stringContaining('p3'), errors: [{ field: 'data.product', messages: [expect.stringContaining('p3')] }] });
    }
    expect(await stored('ps-p3')).toEqual([]);
    expect(await runProducts('ps-p3')).toEqual([]);
    // Within its products, and without a product, it publishes as before; a token for every product publishes p3.
    expect((await publish({ id: 'ps-p1', type: 't.basic', data: { user_id: 'bob', product: 'p1' } }, ['p1'])).status).toBe(202);
    expect((await publish({ id: 'ps-none', type: 't.basic', data: { user_id: 'bob' } }, ['p1'])).status).toBe(202);
    const all = await publish(event);
    expect(all.status).toBe(202);
    expect(all.body.runs).toHaveLength(1);
    expect(await stored('ps-p3', 'ps-p1', 'ps-none')).toEqual(['ps-none', 'ps-p1', 'ps-p3']);
    expect([await runProducts('ps-p1'), await runProducts('ps-none'), await runProducts('ps-p3')]).toEqual([['p1'], [null], ['p3']]);
  });

  it('an array holding one event outside the token\'s products is refused whole (403 naming [i].data.product): neither event is stored', async () => {
    const res = await publish(
      [
        { id: 'ps-arr-p1', type: 't.basic', data: { user_id: 'bob', product: 'p1' } },
        { id: 'ps-arr-p3', type: 't.basic', data: { user_id: 'alice', product: 'p3' } },
      ],
      ['p1'],
    );
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'forbidden', errors: [{ field: '[1].data.product' }] });
    expect(await stored('ps-arr-p1', 'ps-arr-p3')).toEqual([]);
  });

  it('POST /events/batch: the event outside the token\'s products fails alone (403 naming data.product), its neighbour is routed', async () => {
    const res = await send(
      CORE_EVENTS_BATCH_ROUTE,
      {
        events: [
          { body: { id: 'ps-b-p1', type: 't.basic', data: { user_id: 'bob', product: 'p1' } } },
          { body: { id: 'ps-b-p3', type: 't.basic', data: { user_id: 'alice', product: 'p3' } } },
        ],
      },
      ['p1'],
    );
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([202, 403]);
    expect(res.body.results[1].body).toMatchObject({ code: 'forbidden', errors: [{ field: 'data.product' }] });
    expect(await stored('ps-b-p1', 'ps-b-p3')).toEqual(['ps-b-p1']);
  });

  it('an id the same publisher sent under a credential of other products is a 409 event_id_conflict that claims no other publisher and tells nothing of the event', async () => {
    const first = await publish({ id: 'ps-taken', type: 't.basic', data: { user_id: 'alice', product: 'p3' } });
    expect(first.status).toBe(202);
    const res = await publish({ id: 'ps-taken', type: 't.basic', data: { user_id: 'bob', product: 'p1' } }, ['p1']);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('event_id_conflict');
    expect(res.body.message).toContain('ps-taken');
    expect(res.body.message).not.toMatch(/another publisher/);
    const text = JSON.stringify(res.body);
    for (const secret of [first.body.runs[0].run_id, first.body.trace_id, 'p3', 'alice']) expect(text).not.toContain(secret);
    expect(await dataSource.query(`SELECT publisher, data FROM events WHERE event_id = 'ps-taken'`)).toEqual([{ publisher: 'operator', data: { user_id: 'alice', product: 'p3' } }]);
  });
});
