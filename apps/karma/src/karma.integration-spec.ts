import { RequesterId } from '@pancha/contracts';
import type { KarmaEventReply, KarmaProfile, KarmaUserStats, QTableView } from '@pancha/contracts';
import { createTestDatabase, createTestKeys, type ServiceEnv, type ServiceWithDatabase, type TestDatabase, type TestKeys } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { FixedClock } from './clock/clock';
import { loadKarmaConfig } from './config/karma-config';
import { PgKarmaStore } from './ledger/pg-karma.store';
import { DAY_MS } from './model/ledger-entry';
import { replayQTable } from './model/q-learning';
import { bootKarma } from './testing/karma-test-app';
import { TcpProxy } from './testing/tcp-proxy';

jest.setTimeout(240_000);

const T0 = Date.parse('2025-06-01T08:00:00.000Z');
const cfg = loadKarmaConfig();

interface Harness extends ServiceWithDatabase {
  clock: FixedClock;
}

/** Karma with the suite's keys, reading time from a clock the test sets (at T0 to begin with). */
async function buildApp(database: string | TestDatabase, keys: TestKeys, env?: ServiceEnv): Promise<Harness> {
  const clock = new FixedClock(T0);
  return Object.assign(await bootKarma({ database, keys, clock, env }), { clock });
}

describe('karma (HTTP, real PostgreSQL)', () => {
  let keys: TestKeys;

  /** A token of its own for every request: tokens live 60 s, and a write may refuse a jti it has seen. */
  const tokenOf = (who: RequesterId): Promise<string> => keys.mint(who, 'karma');

  beforeAll(() => {
    keys = createTestKeys('karma');
  });

  afterAll(() => keys?.remove());

  describe('the service', () => {
    let h: Harness;

    const http = () => request(h.app.getHttpServer());
    const post = async (body: unknown, who: RequesterId = RequesterId.Core) =>
      http().post('/v1/event/').set('authorization', `Bearer ${await tokenOf(who)}`).send(body as object);
    const get = async (url: string, who: RequesterId = RequesterId.Core) => http().get(url).set('authorization', `Bearer ${await tokenOf(who)}`);
    const life = (user_id: string, action: string, extra: Record<string, unknown> = {}) =>
      post({ type: 'life_event', data: { user_id, action, ...extra }, source: 'test' });
    const ledgerRows = async (): Promise<number> => (await h.dataSource.query('SELECT count(*)::int AS n FROM karma_ledger'))[0].n;

    beforeAll(async () => {
      h = await buildApp('karma_app', keys);
    });

    afterAll(() => h?.close());

    describe('POST /v1/event/', () => {
      it('life_event: the executor\'s workflow_success with a context object (the original contract: events/original-contract.integration-spec.ts)', async () => {
        const ok = await post({ type: 'life_event', data: { user_id: 'exec-user', action: 'workflow_success', context: { trace_id: 't', status: 'success' } } }, RequesterId.WorkflowExecutor);
        expect(ok.status).toBe(200);
        expect(ok.body).toMatchObject({
          status: 'success',
          event_type: 'life_event',
          timestamp: new Date(T0).toISOString(),
          routing_info: { handler: 'life_event', ledger_entries: 1, q_update: true },
          data: { user_id: 'exec-user', action: 'workflow_success', grant: { token: 'DharmaPoints', amount: 2 }, role_before: 'learner' },
        });
        expect(typeof ok.body.message).toBe('string');
      });

      it('rejects an unknown action with 422 listing the accepted values and stores nothing', async () => {
        const before = await ledgerRows();
        const res = await life('u-bad', 'levitate');
        expect(res.status).toBe(422);
        expect(res.body.code).toBe('unknown_action');
        expect(res.body.errors[0].field).toBe('data.action');
        for (const a of cfg.actionNames) expect(res.body.errors[0].messages[0]).toContain(a);
        expect(await ledgerRows()).toBe(before);
      });

      it('names every bad field of the envelope and of data', async () => {
        const res = await post({ type: 'karma_boost', data: 'x', timestamp: 'yesterday' });
        expect(res.status).toBe(422);
        expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['data', 'timestamp', 'type']);
        const data = await post({ type: 'atonement', data: { user_id: 'u', amount: -1 } });
        expect(data.status).toBe(422);
        expect(data.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['data.amount', 'data.atonement_type', 'data.plan_id']);
        // An amount whose sums overflow to Infinity (shown as null everywhere) is refused like a negative one.
        const huge = await post({ type: 'atonement', data: { user_id: 'u', plan_id: '1', atonement_type: 'Jap', amount: 1.7e308 } });
        expect([huge.status, huge.body.errors?.map((e: { field: string }) => e.field)]).toEqual([422, ['data.amount']]);
      });

      it('makes any event idempotent by data.event_id: a repeat returns the first reply and changes nothing', async () => {
        const event_id = randomUUID();
        const body = { type: 'life_event', data: { event_id, user_id: 'idem', action: 'selfless_service' } };
        const first = await post(body);
        expect(first.status).toBe(200);
        const rows = await ledgerRows();
        h.clock.advance(60_000);
        const again = await post(body);
        expect(again.status).toBe(200);
        expect(again.headers['idempotent-replay']).toBe('true');
        expect(again.body).toEqual(first.body);
        expect(await ledgerRows()).toBe(rows);
        const other = await post({ ...body, data: { ...body.data, action: 'cheat' } });
        expect(other.status).toBe(409);
        expect(other.body.code).toBe('event_id_conflict');
      });

      it('answers a repeat with the first answer byte for byte (status and body text), single route and batch', async () => {
        const event_id = randomUUID();
        // Members in an order PostgreSQL's jsonb would not keep (it sorts keys by length, then bytes).
        const body = {
          type: 'life_event',
          data: { event_id, user_id: 'idem-bytes', action: 'helping_peers', note: 'n', context: { zeta: 1, a: [1.5, { yy: true, x: null }], mid: 'é\u2028' } },
          source: 'test',
        };
        const first = await post(body);
        expect(first.status).toBe(200);
        h.clock.advance(60_000);
        const again = await post(body);
        expect(again.status).toBe(first.status);
        expect(again.headers['idempotent-replay']).toBe('true');
        expect(again.text).toBe(first.text);

        const batchOf = async (events: unknown[]) =>
          http().post('/v1/events').set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`).send({ events: events.map((b) => ({ body: b })) });
        const fresh = { ...body, data: { ...body.data, event_id: randomUUID() } };
        const firstBatch = await batchOf([fresh]);
        const retried = await batchOf([fresh, body]);
        expect(retried.body.results.map((r: { replayed: boolean }) => r.replayed)).toEqual([true, true]);
        // Each replayed body is the first body, member order included.
        expect(JSON.stringify(retried.body.results[0].body)).toBe(JSON.stringify(firstBatch.body.results[0].body));
        expect(JSON.stringify(retried.body.results[1].body)).toBe(first.text);
      });

      it('atonement: a met plan atones its paap entry; appeal and death_event are recorded; stats_request answers', async () => {
        const u = 'seeker';
        await life(u, 'completing_lessons');
        const cheat = await life(u, 'cheat');
        expect(cheat.body.data).toMatchObject({ grant: { amount: -2 }, paap: { class: 'medium' }, cheat_count_30d: 1 });
        const planId = cheat.body.data.paap.plan_id as string;

        const appeal = await post({ type: 'appeal', data: { user_id: u, action: 'cheat', context: { reason: 'shared notes' } } });
        expect(appeal.status).toBe(200);
        expect(appeal.body).toMatchObject({ routing_info: { handler: 'appeal', ledger_entries: 1, q_update: false }, data: { atonement_plans: [{ plan_id: planId }] } });

        const plan = cfg.atonementPlans.medium;
        let last: request.Response | undefined;
        for (const [kind, n] of Object.entries(plan)) {
          last = await post({ type: 'atonement', data: { user_id: u, plan_id: planId, atonement_type: kind, amount: n }, source: 'prana' });
          expect(last.status).toBe(200);
        }
        expect(last?.body.data).toMatchObject({ atoned: true, net_karma_before: 3 - 2.5, net_karma_after: 3 });

        const profile = await get(`/api/v1/karma/${u}`);
        expect(profile.status).toBe(200);
        expect(profile.body as KarmaProfile).toMatchObject({
          user_id: u, merit: 3, net_karma: 3, role: 'learner', cheat_count_30d: 1, paap: { medium: 0 }, atonement_plans: [], atoned_count: 1,
          appeals: [{ action: 'cheat', context: { reason: 'shared notes' } }], loka: 'Mrityuloka',
        });

        const death = await post({ type: 'death_event', data: { user_id: u } });
        expect(death.body).toMatchObject({ event_type: 'death_event', data: { loka: 'Mrityuloka', net_karma: 3 }, routing_info: { ledger_entries: 1 } });

        const stats = await post({ type: 'stats_request', data: { user_id: u } });
        expect(stats.status).toBe(200);
        expect(stats.body).toMatchObject({ routing_info: { handler: 'stats_request', ledger_entries: 0 }, data: { last_death: { loka: 'Mrityuloka' } } });
        expect((stats.body as KarmaEventReply).data.stats).toMatchObject({ actions: { completing_lessons: 1, cheat: 1 } });
      });

      it('404 for a death_event or profile of a user Karma never saw', async () => {
        expect((await post({ type: 'death_event', data: { user_id: 'ghost' } })).body.code).toBe('user_not_found');
        const res = await get('/api/v1/karma/ghost');
        expect(res.status).toBe(404);
        expect(res.body.code).toBe('user_not_found');
      });
    });

    describe('GET profile and stats', () => {
      it('computes balances after decay and expiry as of the clock', async () => {
        h.clock.set(T0 + DAY_MS);
        await life('decay', 'helping_peers');
        await life('decay', 'selfless_service');
        h.clock.set(T0 + 101 * DAY_MS);
        const p100 = (await get('/api/v1/karma/decay')).body as KarmaProfile;
        expect(p100.balances.SevaPoints).toBeCloseTo(9.512175302423342, 9);
        expect(p100.balances.PunyaTokens).toBeCloseTo(24.751233467284298, 9);
        h.clock.set(T0 + 401 * DAY_MS);
        const stats = await get('/v1/stats/user/decay');
        expect(stats.status).toBe(200);
        expect(stats.body as KarmaUserStats).toMatchObject({ balances: { SevaPoints: 0 }, stats: { events: 2, ledger_entries: 2 } });
        expect(stats.body.merit).toBeCloseTo(3 * 24.019687936181402, 9);
        h.clock.set(T0);
      });
    });

    describe('authorization', () => {
      it('401 without a credential', async () => {
        expect((await http().post('/v1/event/').send({ type: 'stats_request', data: { user_id: 'x' } })).status).toBe(401);
        expect((await http().get('/v1/q-table')).status).toBe(401);
      });

      it('the executor may only report workflow outcomes: no other action, no other event type (T8)', async () => {
        const asExecutor = (body: object) => post(body, RequesterId.WorkflowExecutor);
        const cheat = await asExecutor({ type: 'life_event', data: { user_id: 't8-user', action: 'cheat' } });
        expect(cheat.status).toBe(403);
        const death = await asExecutor({ type: 'death_event', data: { user_id: 't8-user' } });
        expect(death.status).toBe(403);
        const stats = await asExecutor({ type: 'stats_request', data: { user_id: 'exec-user' } });
        expect(stats.status).toBe(403);
        expect((await asExecutor({ type: 'life_event', data: { user_id: 't8-user', action: 'workflow_failure' } })).status).toBe(200);
        // Nothing of the refused events was recorded: the only entry is the workflow_failure.
        const profile = await get('/api/v1/karma/t8-user', RequesterId.Prana);
        expect(profile.body).toMatchObject({ cheat_count_30d: 0, merit: 0, last_death: null });
      });

      it('the executor may write events but not read profiles', async () => {
        expect((await get('/api/v1/karma/exec-user', RequesterId.WorkflowExecutor)).status).toBe(403);
        expect((await get('/api/v1/karma/exec-user', RequesterId.Prana)).status).toBe(200);
      });
    });

    describe('50 concurrent users × 40 events', () => {
      it('records every event exactly once and keeps the Q-table equal to a replay of the ledger', async () => {
        // A clock that ticks 1 ms per reading, so events get distinct times in arrival order.
        let tick = T0 + 2 * DAY_MS;
        jest.spyOn(h.clock, 'now').mockImplementation(() => new Date(tick++));
        const base = h.url;
        const actions = cfg.actionNames;
        const ids: string[] = [];

        const send = async (body: unknown) => {
          const res = await fetch(`${base}/v1/event/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf(RequesterId.Core)}` },
            body: JSON.stringify(body),
          });
          return { status: res.status, body: (await res.json()) as KarmaEventReply };
        };

        const users = Array.from({ length: 50 }, (_, u) => `load-${u}`);
        const replies = await Promise.all(
          users.map(async (user_id, u) => {
            const out: Array<{ status: number; body: KarmaEventReply }> = [];
            for (let i = 0; i < 40; i++) {
              const event_id = randomUUID();
              ids.push(event_id);
              const body = { type: 'life_event', data: { event_id, user_id, action: actions[(u * 7 + i * 3) % actions.length] } };
              // Every fifth event is sent twice at once, as a retrying outbox would.
              const sent = i % 5 === 0 ? await Promise.all([send(body), send(body)]) : [await send(body)];
              if (sent.length === 2) expect(sent[1].body).toEqual(sent[0].body);
              out.push(...sent);
            }
            return out;
          }),
        );
        jest.restoreAllMocks();
        expect(replies.flat().every((r) => r.status === 200)).toBe(true);

        const counts: Array<{ event_id: string; n: number }> = await h.dataSource.query(
          `SELECT event_id, count(*)::int AS n FROM karma_ledger WHERE kind = 'action' AND event_id = ANY($1) GROUP BY event_id`,
          [ids],
        );
        expect(counts).toHaveLength(2000);
        expect(counts.every((c) => c.n === 1)).toBe(true);
        const events = (await h.dataSource.query(`SELECT count(*)::int AS n FROM karma_event WHERE event_id = ANY($1)`, [ids]))[0].n;
        expect(events).toBe(2000);

        const ledger = await new PgKarmaStore(h.dataSource.manager).ledger();
        const accepted = ledger.filter((e) => e.kind === 'action').length;
        const table = (await get('/v1/q-table')).body as QTableView;
        expect(table.updates).toBe(accepted);
        expect(table).toMatchObject({ alpha: 0.15, gamma: 0.9, roles: ['learner', 'volunteer', 'seva', 'guru'] });

        // The stored table equals the ledger replayed in seq order, value for value.
        const replay = replayQTable(cfg, ledger);
        const stored = await new PgKarmaStore(h.dataSource.manager).qTable();
        expect(stored).toEqual(replay);
      });
    });
  });

  describe('when the database goes away', () => {
    let db: TestDatabase;
    let proxy: TcpProxy;
    let h: Harness;

    beforeAll(async () => {
      db = await createTestDatabase('karma_down');
      const target = new URL(db.url);
      proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
      target.host = `127.0.0.1:${proxy.port}`;
      h = await buildApp(db, keys, { DATABASE_URL: target.toString() });
    });

    afterAll(async () => {
      await proxy?.start();
      await h?.close();
      await proxy?.stop();
      await db?.drop();
    });

    it('answers 503 database_unavailable, never a fake success, and accepts the retry once it is back', async () => {
      const send = async () =>
        request(h.app.getHttpServer())
          .post('/v1/event/')
          .set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`)
          .send({ type: 'life_event', data: { event_id: retryId, user_id: 'down', action: 'helping_peers' } });
      const retryId = randomUUID();
      const first = await request(h.app.getHttpServer())
        .post('/v1/event/')
        .set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`)
        .send({ type: 'life_event', data: { user_id: 'down', action: 'completing_lessons' } });
      expect(first.status).toBe(200);

      await proxy.stop();
      const down = await send();
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ code: 'database_unavailable' });
      const profile = await request(h.app.getHttpServer()).get('/api/v1/karma/down').set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`);
      expect(profile.status).toBe(503);
      expect(profile.body.code).toBe('database_unavailable');
      expect((await request(h.app.getHttpServer()).get('/readyz')).status).toBe(503);

      await proxy.start();
      const retried = await send();
      expect(retried.status).toBe(200);
      expect(retried.body.data).toMatchObject({ grant: { token: 'SevaPoints', amount: 10 }, merit_before: 5 });
      const rows = await h.dataSource.query(`SELECT count(*)::int AS n FROM karma_ledger WHERE event_id = $1`, [retryId]);
      expect(rows[0].n).toBe(1);
    });
  });
});
