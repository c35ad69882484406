// The router's edges a tester found on a live stack: values a trigger renders that PostgreSQL cannot store, a replay
// across product scopes, run owners too long for a run, and an id reused for another event. The real app on
// PostgreSQL, a stand-in executor serving the catalog and taking run starts, a stand-in Bucket.
import { createHash } from 'node:crypto';
import { RequesterId } from '@pancha/contracts';
import { httpJson, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { bootCoreSpec } from '../testing/core-test-app';
import { catalogExecutor } from '../testing/catalog-executor';

jest.setTimeout(90_000);

function manifest(text: string): WorkflowManifest {
  const parsed = parseManifest(text);
  if (!parsed.manifest) throw new Error(JSON.stringify(parsed));
  return parsed.manifest;
}

// `\u0000` is written as CEL's escape (a backslash in the manifest), as a workflow author would write it.
const NUL = manifest(String.raw`
name: nul-maker
version: 1.0.0
security: { actions: [task] }
triggers:
  - name: nul-input
    event: t.nul
    inputs: { note: '{{ event.data.note + "\u0000" }}' }
  - name: nul-key
    event: t.nul
    key: 'event.data.note + "\u0000"'
    dedup: { window: 1h }
    inputs: { note: '{{ event.data.note }}' }
  - name: fine
    event: t.nul
    inputs: { note: '{{ event.data.note }}' }
steps: [{ id: a, action: task, with: { title: x } }]
`);
const BASIC = manifest(`
name: basic
version: 1.0.0
security: { actions: [task] }
triggers: [{ name: any, event: t.basic }, { name: long, event: "long.*" }]
steps: [{ id: a, action: task, with: { title: x } }]
`);

const executor = catalogExecutor([NUL, BASIC]);
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('Core event router: stored values, scopes, owners and reused ids', () => {
  let core: ServiceWithDatabase;
  let dataSource: DataSource;

  const publish = async (body: unknown, products?: string[]) =>
    httpJson('POST', `${core.url}/events`, body, await core.keys.mint(RequesterId.Operator, 'core', products ? { products } : undefined));
  const count = async (sql: string, params: unknown[] = []): Promise<number> => Number((await dataSource.query(sql, params))[0].n);
  const stored = (id: string) => count(`SELECT count(*) AS n FROM events WHERE event_id = $1`, [id]);

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_events_repeats', executor, bucket, env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' } });
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  describe('a value a trigger renders that PostgreSQL cannot store (U+0000)', () => {
    it('is that trigger\'s `invalid` skip naming the field; the event and its other triggers go on', async () => {
      const res = await publish({ id: 'nul-1', type: 't.nul', data: { note: 'hi' } });
      expect(res.status).toBe(202);
      expect(res.body.runs).toEqual([expect.objectContaining({ workflow: 'nul-maker', trigger: 'fine' })]);
      const skipped = Object.fromEntries(res.body.skipped.map((s: { trigger: string }) => [s.trigger, s]));
      expect(skipped['nul-input']).toMatchObject({ reason: 'invalid', detail: expect.stringContaining('inputs.note') });
      expect(skipped['nul-key']).toMatchObject({ reason: 'invalid', detail: expect.stringContaining('key') });
      const [row] = await dataSource.query(`SELECT decisions FROM events WHERE event_id = 'nul-1'`);
      expect(row.decisions).toHaveLength(3);
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE source = 'event:nul-1'`)).toBe(1);
    });

    it('an array holding a good event and one such event stores both', async () => {
      const res = await publish([
        { id: 'nul-good', type: 't.basic', data: { user_id: 'u1' } },
        { id: 'nul-2', type: 't.nul', data: { note: 'x' } },
      ]);
      expect(res.status).toBe(202);
      expect(res.body.events.map((e: { runs: unknown[] }) => e.runs.length)).toEqual([1, 1]);
      expect([await stored('nul-good'), await stored('nul-2')]).toEqual([1, 1]);
    });
  });

  describe('a replay outside the caller\'s products', () => {
    const leak = { id: 'leak-2', type: 't.basic', data: { product: 'p3', user_id: 'alice' } };
    let first: { run_id: string; trace_id: string };

    beforeAll(async () => {
      const res = await publish(leak);
      expect(res.status).toBe(202);
      first = { run_id: res.body.runs[0].run_id, trace_id: res.body.trace_id };
    });

    it('is a 409 event_id_conflict that tells nothing of the event, as GET /events/:id is a 404; nothing is stored', async () => {
      const token = await core.keys.mint(RequesterId.Operator, 'core', { products: ['p1'] });
      expect((await httpJson('GET', `${core.url}/events/leak-2`, undefined, token)).status).toBe(404);
      // The event itself is outside the token's products: a 403 before any id is looked at
      // (events-product-scope.integration-spec.ts). The id sent with an event of the token's own product:
      const reuse = { ...leak, data: { product: 'p1', user_id: 'alice' } };
      expect((await publish(leak, ['p1'])).status).toBe(403);
      const replay = await publish(reuse, ['p1']);
      expect(replay.status).toBe(409);
      expect(replay.body.code).toBe('event_id_conflict');
      const text = JSON.stringify(replay.body);
      for (const secret of [first.run_id, first.trace_id, 'basic', 'p3']) expect(text).not.toContain(secret);
      // An array is one transaction: its other event is not stored either.
      const array = await publish([{ id: 'leak-fresh', type: 't.basic', data: { product: 'p1', user_id: 'bob' } }, reuse], ['p1']);
      expect(array.status).toBe(409);
      expect(await stored('leak-fresh')).toBe(0);
    });

    it('a token that sees the event\'s product still gets the replay', async () => {
      for (const products of [['p3'], undefined]) {
        const replay = await publish(leak, products);
        expect(replay.status).toBe(202);
        expect(replay.body).toMatchObject({ replayed: true, trace_id: first.trace_id, runs: [{ run_id: first.run_id }] });
      }
    });
  });

  describe('a run owner longer than a run holds', () => {
    const long = (c: string) => c.repeat(128);

    it('is not cut: the trigger is an `invalid` skip naming data.user_id, data.product or subject and the limit; 128 characters start the run', async () => {
      const cases: [string, Record<string, unknown>, string][] = [
        ['own-user', { type: 't.basic', data: { user_id: `${long('u')}1` } }, 'data.user_id'],
        ['own-product', { type: 't.basic', data: { user_id: 'u1', product: `${long('p')}1` } }, 'data.product'],
        ['own-subject', { type: 't.basic', subject: `${long('s')}1`, data: {} }, 'subject'],
      ];
      for (const [id, event, field] of cases) {
        const res = await publish({ id, ...event });
        expect(res.status).toBe(202);
        expect(res.body.runs).toEqual([]);
        expect(res.body.skipped).toEqual([expect.objectContaining({ workflow: 'basic', reason: 'invalid', detail: expect.stringMatching(new RegExp(`${field.replace('.', '\\.')}.*128`)) })]);
        expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE source = $1`, [`event:${id}`])).toBe(0);
      }
      // Two users sharing a 128-character prefix stay two users: the one that fits runs as itself.
      const fits = await publish({ id: 'own-fits', type: 't.basic', data: { user_id: long('u'), product: long('p') } });
      expect(fits.body.runs).toHaveLength(1);
      expect(await dataSource.query(`SELECT user_id, product FROM workflow_run_requests WHERE source = 'event:own-fits'`)).toEqual([{ user_id: long('u'), product: long('p') }]);
    });

    it('an event with neither data.user_id nor subject, whose type is too long for `event:<type>`, runs as a digest of the type', async () => {
      const type = `long.${'t'.repeat(123)}`; // 128 characters: event:<type> would be 134
      const res = await publish({ id: 'own-type', type, data: {} });
      expect([res.status, res.body.skipped, res.body.runs]).toEqual([202, [], [expect.objectContaining({ workflow: 'basic', trigger: 'long' })]]);
      const [row] = await dataSource.query(`SELECT user_id FROM workflow_run_requests WHERE source = 'event:own-type'`);
      expect(row.user_id).toBe(`event:sha256:${createHash('sha256').update(type).digest('hex')}`);
    });
  });

  describe('an id its publisher sends again', () => {
    const original = { id: 'reuse-42', source: 'a', type: 't.basic', data: { user_id: 'u42', x: 1, nested: { a: 1, b: [1, 2] } } };
    let runId: string;

    beforeAll(async () => {
      const res = await publish(original);
      expect(res.status).toBe(202);
      runId = res.body.runs[0].run_id;
    });

    it('with other content is a 409 event_id_reused naming what differs; nothing is stored', async () => {
      const [{ decisions: before }] = await dataSource.query(`SELECT decisions FROM events WHERE event_id = 'reuse-42'`);
      const cases: [Record<string, unknown>, string][] = [
        [{ ...original, source: 'b' }, 'source'],
        [{ ...original, type: 't.other', data: { x: 1 } }, 'type'],
        [{ ...original, data: { ...original.data, x: 2 } }, 'data'],
        [{ ...original, subject: 's' }, 'subject'],
      ];
      for (const [event, field] of cases) {
        const res = await publish(event);
        expect(res.status).toBe(409);
        expect(res.body).toMatchObject({ code: 'event_id_reused', message: expect.stringContaining(field) });
        expect(JSON.stringify(res.body)).not.toContain(runId);
      }
      const [row] = await dataSource.query(`SELECT source, type, data, decisions FROM events WHERE event_id = 'reuse-42'`);
      expect(row).toEqual({ source: 'a', type: 't.basic', data: original.data, decisions: before });
      // An array is one transaction: its other event is not stored either.
      const array = await publish([{ id: 'reuse-fresh', type: 't.basic', data: {} }, { ...original, source: 'b' }]);
      expect(array.status).toBe(409);
      expect(await stored('reuse-fresh')).toBe(0);
    });

    it('the same id twice in one array with other content is a 409 too, and stores neither', async () => {
      const res = await publish([
        { id: 'reuse-in-array', type: 't.basic', data: { x: 1 } },
        { id: 'reuse-in-array', type: 't.basic', data: { x: 2 } },
      ]);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'event_id_reused', message: expect.stringContaining('data') });
      expect(await stored('reuse-in-array')).toBe(0);
    });

    it('with the same content is a replay, whatever its time (absent, defaulted, or another) and its keys\' order', async () => {
      const { id, source, type } = original;
      for (const retry of [original, { data: { nested: { b: [1, 2], a: 1 }, x: 1, user_id: 'u42' }, type, source, id }, { ...original, time: '2020-01-01T00:00:00Z' }]) {
        const res = await publish(retry);
        expect(res.status).toBe(202);
        expect(res.body).toMatchObject({ replayed: true, runs: [{ run_id: runId }] });
      }
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE source = 'event:reuse-42'`)).toBe(1);
    });
  });
});
