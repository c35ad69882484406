// A trigger's filter state is kept per product (T9): one product's events use up nothing of another's rate_limit,
// dedup window or debounced start, and a skip's detail tells a product's publisher nothing of another's runs; events
// without a product share one state. Replaying each (trigger, product, key)'s events through applyFilters in seq order
// gives the recorded outcomes. And a data.product that is present but not a non-empty string is a 422 naming it,
// storing nothing. The real app on PostgreSQL, a stand-in executor serving the catalog and taking run starts.
import { CORE_EVENTS_BATCH_ROUTE, type EventDecisionView, RequesterId } from '@pancha/contracts';
import { applyFilters, EMPTY_STATE, type StatefulFilters, type TriggerState } from '@pancha/event-router';
import { httpJson, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest, type TriggerSpec, type WorkflowManifest } from '@pancha/workflow-manifest';
import { bootCoreSpec } from '../testing/core-test-app';
import { catalogExecutor } from '../testing/catalog-executor';

jest.setTimeout(180_000);

// Windows of an hour: nothing here depends on how fast a loaded machine answers.
const parsed = parseManifest(`
name: shared
version: 1.0.0
security: { actions: [task] }
triggers:
  - name: rl
    event: t.rld
    key: event.data.k
    rate_limit: { max: 2, per: 1h }
  - name: dd
    event: t.dd
    key: event.data.k
    dedup: { window: 1h }
  - name: db
    event: t.db
    key: event.data.k
    debounce: { quiet: 1h }
  - name: limited
    event: t.mix
    key: event.data.k
    rate_limit: { max: 3, per: 1h }
  - name: crossing
    event: t.mix
    key: event.data.k
    threshold: { field: event.data.v, above: 50, on: crossing }
  - name: once
    event: t.mix
    key: event.data.k
    dedup: { window: 1h }
steps: [{ id: a, action: task, with: { title: x } }]
`);
if (!parsed.manifest) throw new Error(JSON.stringify(parsed));
const SHARED: WorkflowManifest = parsed.manifest;

const executor = catalogExecutor([SHARED]);
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

interface Answer {
  runs: { trigger: string }[];
  skipped: { trigger: string; reason: string; detail?: string }[];
  deferred: { trigger: string; reason: string }[];
}

/** What an answer says of one trigger: 'run', 'deferred', or the skip's reason. */
function outcome(answer: Answer, trigger: string): string {
  if (answer.runs.some((r) => r.trigger === trigger)) return 'run';
  if (answer.deferred.some((d) => d.trigger === trigger)) return 'deferred';
  return answer.skipped.find((s) => s.trigger === trigger)?.reason ?? 'none';
}

describe('Core event router: filter state per product', () => {
  let core: ServiceWithDatabase;

  const token = (products?: string[]) => core.keys.mint(RequesterId.Operator, 'core', products ? { products } : undefined);
  const publish = async (body: unknown, products?: string[]) => httpJson('POST', `${core.url}/events`, body, await token(products));
  const accepted = async (body: unknown, products?: string[]): Promise<Answer> => {
    const res = await publish(body, products);
    expect({ status: res.status, body: res.status === 202 ? undefined : res.body }).toEqual({ status: 202, body: undefined });
    return res.body as Answer;
  };
  const decisionsOf = async (id: string): Promise<EventDecisionView[]> =>
    ((await core.dataSource.query(`SELECT decisions FROM events WHERE event_id = $1`, [id])) as { decisions: EventDecisionView[] }[])[0].decisions;
  const stored = async (...ids: string[]): Promise<string[]> =>
    ((await core.dataSource.query(`SELECT event_id FROM events WHERE event_id = ANY($1::text[]) ORDER BY event_id`, [ids])) as { event_id: string }[]).map((r) => r.event_id);

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_events_product_state', executor, bucket, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' } });
  });

  afterAll(() => core?.close());

  it('rate_limit: two runs of p2 for key X leave p1 its own two (the skip tells p1 nothing of p2); events without a product share one state', async () => {
    for (const id of ['rl-p2-1', 'rl-p2-2']) expect(outcome(await accepted({ id, type: 't.rld', data: { k: 'X', product: 'p2' } }), 'rl')).toBe('run');
    // The tester's repro: a token narrowed to p1, key X. Before, skipped `2 runs per 1h already started for this key`.
    const p1 = await accepted({ id: 'rl-p1-1', type: 't.rld', data: { k: 'X', product: 'p1' } }, ['p1']);
    expect(p1).toMatchObject({ runs: [{ trigger: 'rl' }], skipped: [] });
    expect(outcome(await accepted({ id: 'rl-p1-2', type: 't.rld', data: { k: 'X', product: 'p1' } }, ['p1']), 'rl')).toBe('run');
    // Each product's own limit still holds.
    const p1Third = await accepted({ id: 'rl-p1-3', type: 't.rld', data: { k: 'X', product: 'p1' } }, ['p1']);
    expect(p1Third.skipped).toEqual([expect.objectContaining({ trigger: 'rl', reason: 'rate_limited', detail: '2 runs per 1h already started for this key' })]);
    expect(outcome(await accepted({ id: 'rl-p2-3', type: 't.rld', data: { k: 'X', product: 'p2' } }), 'rl')).toBe('rate_limited');
    // Without a product: one state, whoever publishes (an unrestricted token, one narrowed to p1, one to p2).
    expect(outcome(await accepted({ id: 'rl-none-1', type: 't.rld', data: { k: 'X' } }), 'rl')).toBe('run');
    expect(outcome(await accepted({ id: 'rl-none-2', type: 't.rld', data: { k: 'X' } }, ['p1']), 'rl')).toBe('run');
    expect(outcome(await accepted({ id: 'rl-none-3', type: 't.rld', data: { k: 'X' } }, ['p2']), 'rl')).toBe('rate_limited');
    // The decision keeps the manifest's key, and seq counts the events of its own product's state.
    expect(await decisionsOf('rl-p1-1')).toEqual([expect.objectContaining({ trigger: 'rl', key: 'X', seq: 1, outcome: 'run' })]);
    expect(await decisionsOf('rl-none-3')).toEqual([expect.objectContaining({ trigger: 'rl', key: 'X', seq: 3, outcome: 'skipped' })]);
    const rows = await core.dataSource.query(`SELECT product, key, (state->>'seq')::int AS seq FROM event_filter_state WHERE workflow = 'shared' AND "trigger" = 'rl' ORDER BY product`);
    expect(rows).toEqual([
      { product: '', key: 'X', seq: 3 },
      { product: 'p1', key: 'X', seq: 3 },
      { product: 'p2', key: 'X', seq: 3 },
    ]);
  });

  it('dedup: a p2 event of key Y opens no window for p1', async () => {
    expect(outcome(await accepted({ id: 'dd-p2-1', type: 't.dd', data: { k: 'Y', product: 'p2' } }), 'dd')).toBe('run');
    expect(outcome(await accepted({ id: 'dd-p1-1', type: 't.dd', data: { k: 'Y', product: 'p1' } }, ['p1']), 'dd')).toBe('run');
    expect(outcome(await accepted({ id: 'dd-p1-2', type: 't.dd', data: { k: 'Y', product: 'p1' } }, ['p1']), 'dd')).toBe('duplicate');
    expect(outcome(await accepted({ id: 'dd-none-1', type: 't.dd', data: { k: 'Y' } }), 'dd')).toBe('run');
  });

  it('debounce: a p1 event of key Z does not replace p2\'s pending start; the next p2 event does; each product keeps one pending start', async () => {
    expect(outcome(await accepted({ id: 'db-p2-1', type: 't.db', data: { k: 'Z', product: 'p2' } }), 'db')).toBe('deferred');
    expect(outcome(await accepted({ id: 'db-p1-1', type: 't.db', data: { k: 'Z', product: 'p1' } }, ['p1']), 'db')).toBe('deferred');
    expect(outcome(await accepted({ id: 'db-none-1', type: 't.db', data: { k: 'Z' } }, ['p1']), 'db')).toBe('deferred');
    // Before, p1's event superseded p2's start (and the product-less one p1's).
    expect(await decisionsOf('db-p2-1')).toEqual([expect.objectContaining({ trigger: 'db', outcome: 'deferred' })]);
    expect(await decisionsOf('db-p1-1')).toEqual([expect.objectContaining({ trigger: 'db', outcome: 'deferred' })]);
    expect(outcome(await accepted({ id: 'db-p2-2', type: 't.db', data: { k: 'Z', product: 'p2' } }), 'db')).toBe('deferred');
    expect(await decisionsOf('db-p2-1')).toEqual([expect.objectContaining({ trigger: 'db', outcome: 'skipped', reason: 'debounced', detail: 'superseded by event db-p2-2 before the key was quiet' })]);
    expect(await decisionsOf('db-p1-1')).toEqual([expect.objectContaining({ trigger: 'db', outcome: 'deferred' })]);
    const waiting = await core.dataSource.query(`SELECT event_id, product, key FROM event_deferred_starts WHERE "trigger" = 'db' ORDER BY event_id`);
    expect(waiting).toEqual([
      { event_id: 'db-none-1', product: null, key: 'Z' },
      { event_id: 'db-p1-1', product: 'p1', key: 'Z' },
      { event_id: 'db-p2-2', product: 'p2', key: 'Z' },
    ]);
  });

  it('replaying each (trigger, product, key)\'s events through applyFilters in seq order gives every recorded outcome', async () => {
    const products = ['p1', 'p2', undefined];
    let s = 7;
    const events = Array.from({ length: 90 }, (_, i) => {
      s = (s * 1103515245 + 12345) % 2147483648;
      const product = products[i % 3];
      return { id: `mix-${i}`, type: 't.mix', data: { k: `k${Math.floor(i / 3) % 2}`, v: s % 100, ...(product ? { product } : {}) } };
    });
    // Arrays of 10 and single events, concurrently: the order is the database's, seq records it.
    await Promise.all([
      ...Array.from({ length: 6 }, (_, b) => accepted(events.slice(b * 10, b * 10 + 10))),
      ...events.slice(60).map((e) => accepted(e, e.data.product ? [e.data.product] : undefined)),
    ]);
    const rows: { data: { k: string; v: number; product?: string }; decisions: EventDecisionView[] }[] = await core.dataSource.query(
      `SELECT data, decisions FROM events WHERE type = 't.mix'`,
    );
    expect(rows).toHaveLength(90);
    const decisions = rows.flatMap((r) => r.decisions.map((d) => ({ ...d, v: r.data.v, product: r.data.product ?? '' })));
    const specs = new Map(SHARED.triggers.map((t: TriggerSpec) => [t.name, t]));
    let groups = 0;
    for (const trigger of ['limited', 'crossing', 'once']) {
      for (const product of ['p1', 'p2', '']) {
        for (const key of ['k0', 'k1']) {
          const mine = decisions.filter((d) => d.trigger === trigger && d.product === product && d.key === key).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
          expect(mine).toHaveLength(15);
          expect(mine.map((d) => d.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
          let state: TriggerState = EMPTY_STATE;
          const replayed = mine.map((d) => {
            const out = applyFilters(specs.get(trigger) as StatefulFilters, { threshold: d.v }, state, 0);
            state = out.state;
            return out.result.outcome === 'run' ? 'run' : (out.result as { reason: string }).reason;
          });
          expect({ trigger, product, key, outcomes: mine.map((d) => (d.outcome === 'run' ? 'run' : d.reason)) }).toEqual({ trigger, product, key, outcomes: replayed });
          groups++;
        }
      }
    }
    expect(groups).toBe(18);
  });

  it('GET /events/stats: a token narrowed to p1 counts its own and product-less events in noisiest_keys, never p2\'s', async () => {
    const stats = async (products?: string[]) =>
      (await httpJson('GET', `${core.url}/events/stats`, undefined, await token(products))).body as { noisiest_keys: { workflow: string; trigger: string; key: string; events: number }[] };
    const rl = (body: Awaited<ReturnType<typeof stats>>) => body.noisiest_keys.find((k) => k.trigger === 'rl' && k.key === 'X')?.events;
    // rl, key X: 3 events of p1, 3 of p2, 3 without a product.
    expect(rl(await stats(['p1']))).toBe(6);
    expect(rl(await stats(['p2']))).toBe(6);
    expect(rl(await stats())).toBe(9);
  });

  describe('data.product present but not a non-empty string', () => {
    const bad: [string, unknown][] = [
      ['a number', 5],
      ['an empty string', ''],
      ['a boolean', true],
      ['an object', { name: 'p1' }],
      ['an array', ['p1']],
    ];

    it.each(bad)('%s: POST /events answers 422 event_invalid naming data.product, from a narrowed token and an unrestricted one; nothing stored', async (what, product) => {
      for (const products of [['p1'], undefined]) {
        const id = `bad-${what.replace(/ /g, '-')}-${products ? 'p1' : 'all'}`;
        const res = await publish({ id, type: 't.rld', data: { k: 'B', product } }, products);
        expect(res.status).toBe(422);
        expect(res.body).toMatchObject({ code: 'event_invalid', errors: [{ field: 'data.product', messages: [expect.stringContaining(`got ${what}`)] }] });
        expect(await stored(id)).toEqual([]);
      }
    });

    it('in an array the event is named ([1].data.product) and the array refused whole; in /events/batch that event alone fails', async () => {
      const array = await publish(
        [
          { id: 'bad-arr-0', type: 't.rld', data: { k: 'B', product: 'p1' } },
          { id: 'bad-arr-1', type: 't.rld', data: { k: 'B', product: 5 } },
          { id: 'bad-arr-2', type: 't.rld', data: { k: 'B', product: '' } },
        ],
        ['p1'],
      );
      expect(array.status).toBe(422);
      expect(array.body).toMatchObject({ code: 'event_invalid', errors: [{ field: '[1].data.product' }, { field: '[2].data.product' }] });
      expect(await stored('bad-arr-0', 'bad-arr-1', 'bad-arr-2')).toEqual([]);

      const batch = await httpJson(
        'POST',
        `${core.url}${CORE_EVENTS_BATCH_ROUTE}`,
        { events: [{ body: { id: 'bad-b-0', type: 't.rld', data: { k: 'B', product: 'p1' } } }, { body: { id: 'bad-b-1', type: 't.rld', data: { k: 'B', product: 5 } } }] },
        await token(['p1']),
      );
      expect(batch.status).toBe(200);
      expect(batch.body.results.map((r: { status: number }) => r.status)).toEqual([202, 422]);
      expect(batch.body.results[1].body).toMatchObject({ code: 'event_invalid', errors: [{ field: 'data.product' }] });
      expect(await stored('bad-b-0', 'bad-b-1')).toEqual(['bad-b-0']);
    });

    it('null is no product (as absent): accepted, its runs product-less', async () => {
      expect(outcome(await accepted({ id: 'null-product', type: 't.dd', data: { k: 'N', product: null } }, ['p1']), 'dd')).toBe('run');
      expect(await core.dataSource.query(`SELECT product FROM workflow_run_requests WHERE source = 'event:null-product'`)).toEqual([{ product: null }]);
    });
  });
});
