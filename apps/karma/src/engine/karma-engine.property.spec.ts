import { KarmaEventRequestDto } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';
import { plainToInstance } from 'class-transformer';
import fc from 'fast-check';
import type { KarmaModelConfig } from '../config/karma-config';
import { loadKarmaConfig } from '../config/karma-config';
import { MemoryKarmaStore } from './memory-karma.store';
import { DAY_MS, LedgerEntry } from '../model/ledger-entry';
import { buildProfile } from '../model/profile-view';
import { replayQTable } from '../model/q-learning';
import { parseKarmaEvent } from './event-parser';
import { KarmaEngine } from './karma-engine';

const cfg = loadKarmaConfig();
const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const USERS = ['ana', 'bo', 'chen'];

/**
 * The model restated naively from KARMA.md, independently of karma-model.ts: what "a fold of the ledger"
 * must give. Only the ledger goes in.
 */
function referenceFold(c: KarmaModelConfig, entries: LedgerEntry[], asOf: number) {
  const balances: Record<string, number> = { DharmaPoints: 0, SevaPoints: 0, PunyaTokens: 0 };
  for (const e of entries) {
    if (e.kind !== 'action' || !e.token || e.at > asOf) continue;
    const t = c.tokens[e.token];
    const age = asOf - e.at;
    if (age < t.expiryDays * DAY_MS) balances[e.token] += e.amount * (1 - t.dailyDecay) ** Math.floor(age / DAY_MS);
  }
  const merit = balances.DharmaPoints * 1 + balances.SevaPoints * 1.2 + balances.PunyaTokens * 3;
  const open: Record<string, number> = { minor: 0, medium: 0, maha: 0 };
  for (const p of entries) {
    if (p.kind !== 'paap' || p.at > asOf) continue;
    const end = p.at + c.paapClasses[p.paapClass ?? ''].expiryDays * DAY_MS;
    const plan = c.atonementPlans[p.paapClass ?? ''];
    const got: Record<string, number> = {};
    let atoned = false;
    for (const a of entries) {
      if (atoned || a.kind !== 'atonement' || a.refSeq !== p.seq || a.at > asOf || a.at >= end) continue;
      got[a.token ?? ''] = (got[a.token ?? ''] ?? 0) + a.amount;
      atoned = Object.entries(plan).every(([k, n]) => (got[k] ?? 0) >= n);
    }
    if (!atoned && asOf < end) open[p.paapClass ?? ''] += 1;
  }
  const net = merit - (open.minor * 1 + open.medium * 2.5 + open.maha * 5);
  const role = merit >= 500 ? 'guru' : merit >= 200 ? 'seva' : merit >= 50 ? 'volunteer' : 'learner';
  return { balances, merit, open, net, role };
}

type Step =
  | { kind: 'life'; user: number; action: string; dt: number }
  | { kind: 'atone'; user: number; pick: number; type: string; amount: number; dt: number }
  | { kind: 'appeal'; user: number; action: string; dt: number }
  | { kind: 'death'; user: number; dt: number }
  | { kind: 'stats'; user: number; dt: number };

// Now and then about a year, so that grants and penalties expire between two events of a user (roles move with time).
const dt = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 3 * 3600_000 }) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 * DAY_MS }) },
  { weight: 1, arbitrary: fc.integer({ min: 300 * DAY_MS, max: 400 * DAY_MS }) },
);
const user = fc.integer({ min: 0, max: USERS.length - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('life' as const), user, action: fc.constantFrom(...cfg.actionNames), dt }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('atone' as const), user, pick: fc.nat(), type: fc.constantFrom('Jap', 'tap', 'BHAKTI', 'Daan'),
      amount: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(10_008)), dt,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('appeal' as const), user, action: fc.constantFrom(...cfg.actionNames), dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('death' as const), user, dt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stats' as const), user, dt }) },
);

function uuid(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

describe('KarmaEngine properties', () => {
  it('the profile is a fold of the ledger, a replay changes nothing, merit is never NaN, the Q-table is a replay of the ledger, role changes chain', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const store = new MemoryKarmaStore();
        const engine = new KarmaEngine(cfg);
        let now = T0;
        const accepted: { body: Record<string, unknown>; reply: unknown }[] = [];
        // What a karma.role_changed subscriber knows of each user: the role of the last change published.
        const published = new Map<string, string>();

        for (const [i, s] of steps.entries()) {
          now += s.dt;
          const user_id = USERS[s.user];
          const data: Record<string, unknown> = { event_id: uuid(i), user_id };
          let type: string;
          if (s.kind === 'life' || s.kind === 'appeal') {
            data.action = s.action;
            type = s.kind === 'life' ? 'life_event' : 'appeal';
          } else if (s.kind === 'death') type = 'death_event';
          else if (s.kind === 'stats') type = 'stats_request';
          else {
            const plans = buildProfile(cfg, user_id, await store.userEntries(user_id), now, store.table).atonement_plans;
            const plan_id = plans.length ? plans[s.pick % plans.length].plan_id : '424242';
            Object.assign(data, { plan_id, atonement_type: s.type, amount: s.amount });
            type = 'atonement';
          }
          const body = { type, data };
          try {
            const { reply, replayed, roleChanges } = await engine.ingest(store, parseKarmaEvent(cfg, plainToInstance(KarmaEventRequestDto, body), now), now);
            expect(replayed).toBe(false);
            accepted.push({ body, reply });
            // Each change starts where the last published one ended, and after an event that wrote to the ledger the
            // subscriber knows the user's role as of now (time included), never a role the user left without an event.
            for (const c of roleChanges) {
              expect([c.userId, c.from]).toEqual([user_id, published.get(user_id) ?? 'learner']);
              expect(c.to).not.toBe(c.from);
              published.set(user_id, c.to);
            }
            const entries = await store.userEntries(user_id);
            if (entries.some((e) => e.eventId === data.event_id)) expect(published.get(user_id) ?? 'learner').toBe(referenceFold(cfg, entries, now).role);
          } catch (error) {
            // Only the caller's mistakes may be refused (no plan, unknown user): never a 5xx.
            expect(error).toBeInstanceOf(DomainException);
            expect((error as DomainException).getStatus()).toBeLessThan(500);
          }
        }

        for (const asOf of [now, now + 100 * DAY_MS, now + 800 * DAY_MS]) {
          for (const u of USERS) {
            const entries = await store.userEntries(u);
            const profile = buildProfile(cfg, u, entries, asOf, store.table);
            const ref = referenceFold(cfg, entries, asOf);
            expect(Number.isFinite(profile.merit)).toBe(true);
            expect(Number.isFinite(profile.net_karma)).toBe(true);
            for (const t of Object.keys(ref.balances)) expect(profile.balances[t]).toBeCloseTo(ref.balances[t], 9);
            expect(profile.merit).toBeCloseTo(ref.merit, 9);
            expect(profile.paap).toEqual(ref.open);
            expect(profile.net_karma).toBeCloseTo(ref.net, 9);
            expect(profile.role).toBe(ref.role);
          }
        }

        const table = replayQTable(cfg, store.ledger);
        expect(store.table).toEqual(table);
        const updates = [...store.table.values()].flatMap((row) => [...row.values()]).reduce((n, c) => n + c.updates, 0);
        expect(updates).toBe(store.ledger.filter((e) => e.kind === 'action').length);

        const ledgerBefore = structuredClone(store.ledger);
        const tableBefore = await store.qTable();
        for (const { body, reply } of accepted) {
          now += DAY_MS;
          const again = await engine.ingest(store, parseKarmaEvent(cfg, plainToInstance(KarmaEventRequestDto, body), now), now);
          expect(again).toEqual({ reply, replayed: true, roleChanges: [] });
        }
        expect(store.ledger).toEqual(ledgerBefore);
        expect(store.table).toEqual(tableBefore);
      }),
      { numRuns: 150 },
    );
  });
});
