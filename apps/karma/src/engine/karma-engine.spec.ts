import { KarmaEventRequestDto } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';
import { plainToInstance } from 'class-transformer';
import { loadKarmaConfig } from '../config/karma-config';
import { MemoryKarmaStore } from './memory-karma.store';
import { DAY_MS } from '../model/ledger-entry';
import { buildProfile } from '../model/profile-view';
import { qValue, replayQTable } from '../model/q-learning';
import { parseKarmaEvent } from './event-parser';
import { IngestResult, KarmaEngine } from './karma-engine';

const cfg = loadKarmaConfig();
const T0 = Date.parse('2025-03-01T12:00:00.000Z');

function setup() {
  const store = new MemoryKarmaStore();
  const engine = new KarmaEngine(cfg);
  const submit = async (body: Record<string, unknown>, now = T0) =>
    engine.ingest(store, parseKarmaEvent(cfg, plainToInstance(KarmaEventRequestDto, body), now), now);
  const life = (user_id: string, action: string, now = T0, extra: Record<string, unknown> = {}) =>
    submit({ type: 'life_event', data: { user_id, action, ...extra } }, now);
  return { store, engine, submit, life };
}

async function rejection(p: Promise<unknown>): Promise<DomainException> {
  try {
    await p;
  } catch (error) {
    if (error instanceof DomainException) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('KarmaEngine', () => {
  describe('Q-learning (α 0.15, γ 0.9)', () => {
    it('applies three updates whose values are computed by hand', async () => {
      const { store, life } = setup();
      // 1. a: learner → learner, r = 5: Q = 0 + 0.15 (5 + 0.9·0 − 0) = 0.75
      const r1 = await life('a', 'completing_lessons');
      expect(r1.reply.data.q_update).toEqual({
        role: 'learner', action: 'completing_lessons', reward: 5, next_role: 'learner', q_before: 0, q_after: 0.75,
      });
      // 2. b: learner → volunteer (merit 75), r = 75: Q = 0.15 (75 + 0.9·max Q[volunteer,·] = 0) = 11.25
      const r2 = await life('b', 'selfless_service');
      expect(r2.reply.data).toMatchObject({ role_before: 'learner', role_after: 'volunteer' });
      expect((r2.reply.data.q_update as { q_after: number }).q_after).toBeCloseTo(11.25, 12);
      // 3. c: learner → learner, r = 12: Q = 0.15 (12 + 0.9·max(0.75, 11.25)) = 0.15 · 22.125 = 3.31875
      const r3 = await life('c', 'helping_peers');
      expect((r3.reply.data.q_update as { q_after: number }).q_after).toBeCloseTo(3.31875, 12);

      expect(qValue(store.table, 'learner', 'completing_lessons')).toBeCloseTo(0.75, 12);
      expect(qValue(store.table, 'learner', 'selfless_service')).toBeCloseTo(11.25, 12);
      expect(qValue(store.table, 'learner', 'helping_peers')).toBeCloseTo(3.31875, 12);
      expect(replayQTable(cfg, store.ledger)).toEqual(store.table);
    });

    it('updates from the derived role, never the one in the request', async () => {
      const { life } = setup();
      for (let i = 0; i < 10; i++) await life('u', 'completing_lessons', T0 + i);
      const r = await life('u', 'helping_peers', T0 + 10, { role: 'guru' });
      expect(r.reply.data).toMatchObject({ role_before: 'volunteer', role_after: 'volunteer' });
      expect(r.reply.data.q_update).toMatchObject({ role: 'volunteer' });
    });

    it('a cheat teaches a negative value', async () => {
      const { store, life } = setup();
      await life('u', 'cheat');
      expect(qValue(store.table, 'learner', 'cheat')).toBeCloseTo(0.15 * -2, 12);
    });
  });

  describe('life_event', () => {
    it('replies with routing_info and writes one action entry (two with a paap)', async () => {
      const { store, life } = setup();
      const r = await life('u', 'cheat', T0, { context: { task_id: 't1' }, note: 'copied' });
      expect(r.reply).toMatchObject({
        status: 'success',
        event_type: 'life_event',
        timestamp: new Date(T0).toISOString(),
        routing_info: { handler: 'life_event', ledger_entries: 2, q_update: true },
        data: { grant: { token: 'DharmaPoints', amount: -2 }, paap: { class: 'medium', plan_id: '2' }, cheat_count_30d: 1, net_karma: -4.5 },
      });
      expect(store.ledger.map((e) => e.kind)).toEqual(['action', 'paap']);
      expect(store.ledger[0].details).toMatchObject({ context: { task_id: 't1' }, note: 'copied' });
    });

    it('accepts the executor and PRANA vocabulary, in any letter case', async () => {
      const { life } = setup();
      for (const a of ['workflow_success', 'workflow_failure', 'DEEP_FOCUS', 'on_task', 'thinking', 'idle', 'off_task', 'distracted', 'away']) {
        await expect(life('u', a)).resolves.toMatchObject({ replayed: false });
      }
    });

    it('rejects an unknown action with 422 unknown_action listing the accepted values', async () => {
      const { store, life } = setup();
      const e = await rejection(life('u', 'meditating'));
      expect(e.getStatus()).toBe(422);
      expect(e.code).toBe('unknown_action');
      expect(e.errors?.[0].field).toBe('data.action');
      expect(e.errors?.[0].messages[0]).toContain('completing_lessons, helping_peers');
      expect(e.errors?.[0].messages[0]).toContain('workflow_success');
      expect(store.ledger).toHaveLength(0);
    });

    it('records a claimed role (the original "user", or a flattering "guru") and scores as the derived role', async () => {
      const { store, life } = setup();
      const claimed = await life('u', 'completing_lessons', T0, { role: 'guru' });
      expect(claimed.reply.data).toMatchObject({
        role_before: 'learner',
        role_after: 'learner',
        grant: { token: 'DharmaPoints', amount: 5 },
        q_update: { role: 'learner', next_role: 'learner' },
      });
      expect(store.ledger[0].details).toMatchObject({ role_claimed: 'guru' });
      await expect(life('w', 'completing_lessons', T0, { role: 'user' })).resolves.toMatchObject({ replayed: false });
    });

    it('scores workflow_failed, the original executor\'s name, as workflow_failure and records the name sent', async () => {
      const { store, life } = setup();
      const { reply } = await life('u', 'WORKFLOW_FAILED');
      expect(reply.data).toMatchObject({ action: 'workflow_failure', q_update: { action: 'workflow_failure' } });
      expect(store.ledger[0]).toMatchObject({ action: 'workflow_failure', details: { action_alias: 'workflow_failed' } });
    });

    it('names every missing field', async () => {
      const { submit } = setup();
      const e = await rejection(submit({ type: 'life_event', data: { context: 42 } }));
      expect(e.code).toBe('validation_failed');
      expect(e.errors?.map((x) => x.field).sort()).toEqual(['data.action', 'data.context', 'data.user_id']);
    });

    it('rejects a timestamp beyond 5 minutes in the future, accepts one within', async () => {
      const { submit } = setup();
      const at = (ms: number) => ({ type: 'life_event', timestamp: new Date(T0 + ms).toISOString(), data: { user_id: 'u', action: 'idle' } });
      expect((await rejection(submit(at(301_000)))).code).toBe('timestamp_in_future');
      await expect(submit(at(299_000))).resolves.toMatchObject({ replayed: false });
    });

    it('scores a backdated event at the time Karma received it: a cheat cannot escape the 30-day window', async () => {
      const { submit, life } = setup();
      await life('u', 'cheat', T0);
      const back = await submit({
        type: 'life_event',
        timestamp: new Date(T0 - 90 * DAY_MS).toISOString(),
        data: { user_id: 'u', action: 'cheat' },
      }, T0 + DAY_MS);
      expect(back.reply.data).toMatchObject({ grant: { amount: -5 }, cheat_count_30d: 2, occurred_at: new Date(T0 - 90 * DAY_MS).toISOString() });
    });
  });

  describe('idempotency', () => {
    it('a repeated event_id changes nothing and returns the first reply', async () => {
      const { store, submit } = setup();
      const body = { type: 'life_event', data: { event_id: '6f1c1f4e-9a57-4c5e-9d0e-1b7f5cf0a001', user_id: 'u', action: 'helping_peers' } };
      const first = await submit(body, T0);
      const again = await submit(body, T0 + DAY_MS);
      expect(again).toEqual({ reply: first.reply, replayed: true, roleChanges: [] });
      expect(store.ledger).toHaveLength(1);
      expect(store.table.get('learner')?.get('helping_peers')?.updates).toBe(1);
    });

    it('the same event_id with other content is a 409', async () => {
      const { submit } = setup();
      const id = '6f1c1f4e-9a57-4c5e-9d0e-1b7f5cf0a002';
      await submit({ type: 'life_event', data: { event_id: id, user_id: 'u', action: 'helping_peers' } });
      const e = await rejection(submit({ type: 'life_event', data: { event_id: id, user_id: 'u', action: 'selfless_service' } }));
      expect(e.getStatus()).toBe(409);
      expect(e.code).toBe('event_id_conflict');
    });
  });

  describe('atonement', () => {
    it('records progress; a plan met in full atones its paap entry and raises net karma', async () => {
      const { store, submit, life } = setup();
      await life('u', 'completing_lessons');
      const paap = await life('u', 'break_promise');
      const planId = (paap.reply.data.paap as { plan_id: string }).plan_id;
      const atone = (atonement_type: string, amount: number) =>
        submit({ type: 'atonement', data: { user_id: 'u', plan_id: planId, atonement_type, amount } });

      const half = await atone('jap', 54);
      expect(half.reply).toMatchObject({
        routing_info: { handler: 'atonement', ledger_entries: 1, q_update: false },
        data: { atoned: false, atonement_type: 'Jap', net_karma_before: 4, net_karma_after: 4, plan: { remaining: { Jap: 54, Tap: 1, Bhakti: 1, Daan: 10 } } },
      });
      await atone('Jap', 54);
      await atone('Tap', 1);
      await atone('Bhakti', 1);
      const done = await atone('Daan', 10);
      expect(done.reply.data).toMatchObject({ atoned: true, net_karma_before: 4, net_karma_after: 5 });

      const profile = buildProfile(cfg, 'u', await store.userEntries('u'), T0, store.table);
      expect(profile).toMatchObject({ net_karma: 5, paap: { minor: 0 }, atonement_plans: [], atoned_count: 1 });
      expect((await rejection(atone('Jap', 1))).code).toBe('plan_closed');
    });

    it('404 for a plan that is not the user\'s, 422 for an unknown kind', async () => {
      const { submit, life } = setup();
      const paap = await life('a', 'theft');
      const planId = (paap.reply.data.paap as { plan_id: string }).plan_id;
      const e = await rejection(submit({ type: 'atonement', data: { user_id: 'b', plan_id: planId, atonement_type: 'Jap', amount: 1 } }));
      expect(e.code).toBe('plan_not_found');
      const k = await rejection(submit({ type: 'atonement', data: { user_id: 'a', plan_id: planId, atonement_type: 'fasting', amount: 1 } }));
      expect(k.code).toBe('unknown_atonement_type');
      expect(k.errors?.[0].messages[0]).toBe('data.atonement_type must be one of: Jap, Tap, Bhakti, Daan');
    });
  });

  describe('appeal, death_event, stats_request', () => {
    it('an appeal is recorded and shows in the profile with the plans for that action', async () => {
      const { store, submit, life } = setup();
      await life('u', 'cheat');
      const r = await submit({ type: 'appeal', data: { user_id: 'u', action: 'cheat', context: 'a misunderstanding' } });
      expect(r.reply).toMatchObject({ routing_info: { handler: 'appeal', ledger_entries: 1 }, data: { atonement_plans: [{ plan_id: '2', paap_class: 'medium' }] } });
      const profile = buildProfile(cfg, 'u', await store.userEntries('u'), T0, store.table);
      expect(profile.appeals).toEqual([{ seq: 3, action: 'cheat', context: 'a misunderstanding', at: new Date(T0).toISOString() }]);
    });

    it.each([
      [[], 'unknown user', 404],
      [Array<string>(7).fill('selfless_service'), 'Swarga', 200],
      [['completing_lessons'], 'Mrityuloka', 200],
      [['cheat'], 'Antarloka', 200],
    ])('death_event after %j → %s', async (actions, loka, status) => {
      const { submit, life } = setup();
      for (const [i, a] of actions.entries()) await life('u', a, T0 + i);
      const p = submit({ type: 'death_event', data: { user_id: 'u' } }, T0 + 100);
      if (status === 404) {
        expect((await rejection(p)).code).toBe('user_not_found');
        return;
      }
      const r = await p;
      expect(r.reply.data).toMatchObject({ loka });
      expect(r.reply.routing_info).toEqual({ handler: 'death_event', ledger_entries: 1, q_update: false });
    });

    it('Antarloka down to −200, Naraka below', async () => {
      const { submit, life } = setup();
      for (let i = 0; i < 6; i++) await life('u', 'cheat', T0 + i);
      const r = await submit({ type: 'death_event', data: { user_id: 'u' } }, T0 + 10);
      expect(r.reply.data).toMatchObject({ loka: 'Antarloka', net_karma: -177 - 15 });
      for (let i = 0; i < 2; i++) await life('u', 'harm_others', T0 + 20 + i);
      const r2 = await submit({ type: 'death_event', data: { user_id: 'u' } }, T0 + 30);
      expect(r2.reply.data).toMatchObject({ loka: 'Naraka', net_karma: -202 });
    });

    it('a stats_request writes nothing and returns the profile with counts', async () => {
      const { store, submit, life } = setup();
      await life('u', 'helping_peers');
      const r = await submit({ type: 'stats_request', data: { user_id: 'u' } });
      expect(r.reply).toMatchObject({
        routing_info: { handler: 'stats_request', ledger_entries: 0, q_update: false },
        data: { user_id: 'u', role: 'learner', stats: { events: 1, actions: { helping_peers: 1 } } },
      });
      expect(store.ledger).toHaveLength(1);
      expect(store.events.size).toBe(1);
    });
  });

  describe('role changes (karma.role_changed)', () => {
    const YEAR_AND_A_DAY = T0 + 366 * DAY_MS;
    /** What a subscriber sees: [previous_role, role, cause] of every change, in publishing order. */
    const seen = (results: IngestResult[]) => results.flatMap((r) => r.roleChanges.map((c) => [c.from, c.to, c.cause]));
    /** Each change starts from the role the one before it ended on (the first from the role of no merit). */
    const expectChained = (results: IngestResult[]) => {
      let role = 'learner';
      for (const c of results.flatMap((r) => r.roleChanges)) {
        expect(c.from).toBe(role);
        role = c.to;
      }
    };

    it('a role lost to expiry is published by the next event, and the next gain starts from it', async () => {
      const { store, life } = setup();
      const results: IngestResult[] = [];
      for (let i = 0; i < 10; i++) results.push(await life('u', 'completing_lessons', T0 + i)); // 10 × 5 Dharma = 50
      expect(seen(results)).toEqual([['learner', 'volunteer', 'event']]);

      // A year and a day on the Dharma grants have expired: the user is a learner, and nothing told anyone yet.
      expect(buildProfile(cfg, 'u', await store.userEntries('u'), YEAR_AND_A_DAY, store.table)).toMatchObject({ merit: 0, role: 'learner' });
      const idle = await life('u', 'idle', YEAR_AND_A_DAY);
      expect(idle.reply.data).toMatchObject({ role_before: 'learner', role_after: 'learner' });
      const idleSeq = store.ledger[store.ledger.length - 1].seq;
      expect(idle.roleChanges).toEqual([
        { id: `karma:role_changed:${idleSeq}:time`, userId: 'u', from: 'volunteer', to: 'learner', cause: 'time', netKarma: 0, merit: 0, ledgerSeq: idleSeq, eventId: idle.reply.data.event_id, at: YEAR_AND_A_DAY },
      ]);
      results.push(idle);

      for (let i = 1; i <= 10; i++) results.push(await life('u', 'completing_lessons', YEAR_AND_A_DAY + i));
      expect(seen(results)).toEqual([
        ['learner', 'volunteer', 'event'],
        ['volunteer', 'learner', 'time'],
        ['learner', 'volunteer', 'event'],
      ]);
      expectChained(results);
      expect(store.roles.get('u')).toMatchObject({ role: 'volunteer', at: YEAR_AND_A_DAY + 10 });
    });

    it('an event that wins back a role lost to time publishes the loss first, then its own change, on the same seq', async () => {
      const { store, life } = setup();
      const first = await life('u', 'completing_lessons', T0);
      const results = [first];
      for (let i = 1; i < 10; i++) results.push(await life('u', 'completing_lessons', T0 + i));
      const back = await life('u', 'selfless_service', YEAR_AND_A_DAY); // 0 → 75
      results.push(back);
      expect(back.reply.data).toMatchObject({ role_before: 'learner', role_after: 'volunteer' });
      const seq = store.ledger[store.ledger.length - 1].seq;
      expect(back.roleChanges.map((c) => [c.from, c.to, c.cause, c.ledgerSeq, c.merit])).toEqual([
        ['volunteer', 'learner', 'time', seq, 0],
        ['learner', 'volunteer', 'event', seq, 75],
      ]);
      expectChained(results);
    });

    it('a role gained as penalties expire is published by any event that writes to the ledger (an appeal here)', async () => {
      const { submit, life } = setup();
      const results = [await life('u', 'selfless_service', T0)]; // 75: volunteer
      for (let i = 1; i <= 4; i++) results.push(await life('u', 'cheat', T0 + i)); // −2 −5 −10 −20: 38, learner
      expect(seen(results)).toEqual([
        ['learner', 'volunteer', 'event'],
        ['volunteer', 'learner', 'event'],
      ]);
      // A year and a day on the Dharma penalties have expired (the Punya grant lasts two years): volunteer again.
      const appeal = await submit({ type: 'appeal', data: { user_id: 'u', action: 'cheat' } }, YEAR_AND_A_DAY);
      results.push(appeal);
      expect(appeal.roleChanges).toHaveLength(1);
      expect(appeal.roleChanges[0]).toMatchObject({ from: 'learner', to: 'volunteer', cause: 'time' });
      expect(appeal.roleChanges[0].merit).toBeCloseTo(75 * Math.pow(1 - 0.0001, 366), 9);
      expectChained(results);
    });

    it('a replay publishes nothing again, and neither does an event that finds the role as last published', async () => {
      const { store, submit, life } = setup();
      for (let i = 0; i < 10; i++) await life('u', 'completing_lessons', T0 + i);
      // Nothing moved since: no change, however many events.
      expect((await life('u', 'helping_peers', T0 + 20)).roleChanges).toEqual([]);
      expect((await submit({ type: 'death_event', data: { user_id: 'u' } }, T0 + 21)).roleChanges).toEqual([]);
      // A stats_request writes nothing, so it publishes nothing even after the role moved; the next write does, once.
      expect((await submit({ type: 'stats_request', data: { user_id: 'u' } }, YEAR_AND_A_DAY)).roleChanges).toEqual([]);
      const event = { type: 'life_event', data: { user_id: 'u', action: 'idle', event_id: '0b7ad0f4-6c2f-4f7e-9d0e-1a7c3c1f2a11' } };
      const idle = await submit(event, YEAR_AND_A_DAY);
      expect(idle.roleChanges.map((c) => [c.from, c.to, c.cause])).toEqual([['volunteer', 'learner', 'time']]);
      const replay = await submit(event, YEAR_AND_A_DAY + 1);
      expect(replay).toMatchObject({ replayed: true, roleChanges: [] });
      expect((await life('u', 'idle', YEAR_AND_A_DAY + 2)).roleChanges).toEqual([]);
      expect(store.roles.get('u')).toMatchObject({ role: 'learner', at: YEAR_AND_A_DAY });
    });

    it('a user whose role never moved has nothing published and no stored role', async () => {
      const { store, life } = setup();
      const r = await life('u', 'completing_lessons', T0);
      expect(r.roleChanges).toEqual([]);
      expect(store.roles.has('u')).toBe(false);
    });
  });

  describe('profile', () => {
    it('predicts the next role from the best-valued action and recommends it', async () => {
      const { store, life } = setup();
      for (let i = 0; i < 8; i++) await life('u', 'completing_lessons', T0 + i);
      const profile = buildProfile(cfg, 'u', await store.userEntries('u'), T0 + 10, new Map());
      // Empty table: all Q = 0, the tie goes to the largest merit gain (selfless_service, +75): 40 + 75 ≥ 50.
      expect(profile).toMatchObject({ merit: 40, role: 'learner', recommended_action: 'selfless_service', predicted_next_role: 'volunteer' });
      // With the learned table, completing_lessons (Q 0.75·…) is the best-valued: 40 + 5 stays learner.
      const learned = buildProfile(cfg, 'u', await store.userEntries('u'), T0 + 10, store.table);
      expect(learned).toMatchObject({ recommended_action: 'completing_lessons', predicted_next_role: 'learner' });
      expect(learned.q_values.completing_lessons).toBeGreaterThan(0);
    });
  });
});
