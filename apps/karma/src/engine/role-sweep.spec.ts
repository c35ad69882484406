import { KarmaEventRequestDto } from '@pancha/contracts';
import { plainToInstance } from 'class-transformer';
import fc from 'fast-check';
import { loadKarmaConfig } from '../config/karma-config';
import { meritAt, roleFor } from '../model/karma-model';
import { DAY_MS } from '../model/ledger-entry';
import { parseKarmaEvent } from './event-parser';
import { KarmaEngine, ROLE_SWEEP_LOOKBACK_MS, roleSweepLookbackMs, type RoleChange } from './karma-engine';
import { MemoryKarmaStore } from './memory-karma.store';

const cfg = loadKarmaConfig();
const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const EXPIRY = T0 + 365 * DAY_MS;

/** Two engines over one store: Karma with router events on, and the same Karma restarted with them off. */
function setup() {
  const store = new MemoryKarmaStore();
  const on = new KarmaEngine(cfg);
  const off = new KarmaEngine(cfg, { publishRoleChanges: false });
  let n = 0;
  const life = async (engine: KarmaEngine, user_id: string, action: string, now: number) => {
    const event_id = `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`;
    const body = plainToInstance(KarmaEventRequestDto, { type: 'life_event', data: { user_id, action, event_id } });
    return engine.ingest(store, parseKarmaEvent(cfg, body, now), now);
  };
  /** A sweep round over the memory store: every due row, as KarmaRoleSweep does over karma_published_role. */
  const sweep = async (engine: KarmaEngine, now: number): Promise<RoleChange[]> => {
    const changes: RoleChange[] = [];
    for (const row of [...store.roles.values()]) {
      if (row.nextTimeChangeAt === null || row.nextTimeChangeAt > now) continue;
      const outcome = engine.sweep({ ...row }, await store.userEntries(row.userId), now);
      await store.savePublishedRole(outcome.row);
      changes.push(...outcome.changes);
    }
    return changes;
  };
  const lastSeq = () => store.ledger[store.ledger.length - 1].seq;
  return { store, on, off, life, sweep, lastSeq };
}

const transitions = (changes: RoleChange[]) => changes.map((c) => [c.userId, c.from, c.to, c.cause]);

describe('KarmaEngine.sweep (role changes time makes, published when they happen)', () => {
  it('publishes a role lost to expiry at the moment it is lost, once, with an id of its own', async () => {
    const { store, on, life, sweep, lastSeq } = setup();
    for (let i = 0; i < 10; i++) await life(on, 'u', 'completing_lessons', T0 + i); // 50 Dharma: volunteer
    // The first grant expires a year after T0, taking merit to 45: the row says when to look.
    expect(store.roles.get('u')).toEqual({ userId: 'u', role: 'volunteer', ledgerSeq: 10, at: T0 + 9, nextTimeChangeAt: EXPIRY, unpublishedEventSeq: null });

    expect(await sweep(on, EXPIRY - 1)).toEqual([]);
    const [lapse, ...rest] = await sweep(on, EXPIRY);
    expect(rest).toEqual([]);
    expect(lapse).toEqual({
      id: `karma:role_changed:${lastSeq()}:time:${EXPIRY}`, userId: 'u', from: 'volunteer', to: 'learner', cause: 'time',
      netKarma: 45, merit: 45, ledgerSeq: lastSeq(), eventId: null, at: EXPIRY,
    });
    // Published: learner, and merit only falls from here, so there is nothing left to look for.
    expect(store.roles.get('u')).toMatchObject({ role: 'learner', nextTimeChangeAt: null, at: EXPIRY });
    expect(await sweep(on, EXPIRY + 400 * DAY_MS)).toEqual([]);
    // The next event finds the role as published: nothing again.
    expect((await life(on, 'u', 'idle', EXPIRY + DAY_MS)).roleChanges).toEqual([]);
  });

  it('walks no further back than the look-back: a row due for longer (the upgrade, a long stop) gets the older changes as one, dated at its start', async () => {
    const { store, on, life, sweep, lastSeq } = setup();
    const HOUR = 3_600_000;
    await life(on, 'u', 'completing_lessons', T0); // +5, expires at EXPIRY
    await life(on, 'u', 'cheat', T0 + HOUR); // −2 and a medium paap, both for a year
    for (let i = 0; i < 10; i++) await life(on, 'u', 'completing_lessons', T0 + 2 * HOUR); // 53: volunteer
    // Lost at EXPIRY (48), won back an hour later (50), lost two hours later (the +50 expires): all a month before
    // the round. Within the look-back the walk would publish the three; past it, the role at its start, once.
    await store.savePublishedRole({ ...store.roles.get('u')!, nextTimeChangeAt: 0 }); // as the upgrade leaves it
    const round = EXPIRY + 30 * DAY_MS;
    const changes = await sweep(on, round);
    expect(changes.map((c) => [c.from, c.to, c.cause, c.at])).toEqual([['volunteer', 'learner', 'time', round - ROLE_SWEEP_LOOKBACK_MS]]);
    expect(changes[0].id).toBe(`karma:role_changed:${lastSeq()}:time:${round - ROLE_SWEEP_LOOKBACK_MS}`);
    // A sweep interval of 12 h looks back three of them (36 h): a row due just after a round is walked from its moment.
    expect(roleSweepLookbackMs(12 * HOUR)).toBe(36 * HOUR);
    expect(roleSweepLookbackMs(60_000)).toBe(ROLE_SWEEP_LOOKBACK_MS);
    await store.savePublishedRole({ ...store.roles.get('u')!, role: 'volunteer', nextTimeChangeAt: 0 });
    const longer = (await store.userEntries('u')).length && on.sweep({ ...store.roles.get('u')! }, await store.userEntries('u'), EXPIRY + 30 * HOUR, 36 * HOUR);
    expect((longer as { changes: RoleChange[] }).changes.map((c) => c.at)).toEqual([EXPIRY, EXPIRY + HOUR, EXPIRY + 2 * HOUR]);
    // The same history swept within the look-back: each change at its moment.
    await store.savePublishedRole({ ...store.roles.get('u')!, role: 'volunteer', nextTimeChangeAt: 0 });
    const near = await sweep(on, EXPIRY + 3 * HOUR);
    expect(near.map((c) => [c.from, c.to, c.at])).toEqual([
      ['volunteer', 'learner', EXPIRY],
      ['learner', 'volunteer', EXPIRY + HOUR],
      ['volunteer', 'learner', EXPIRY + 2 * HOUR],
    ]);
  });

  it('publishes a gain as a penalty expires for a user who never had a change published', async () => {
    const { store, on, life, sweep } = setup();
    await life(on, 'p', 'cheat', T0); // −2 Dharma
    for (let i = 1; i <= 10; i++) await life(on, 'p', 'completing_lessons', T0 + i); // 48: learner throughout
    expect(store.roles.get('p')).toEqual({ userId: 'p', role: null, ledgerSeq: null, at: null, nextTimeChangeAt: EXPIRY, unpublishedEventSeq: null });
    expect(transitions(await sweep(on, EXPIRY))).toEqual([['p', 'learner', 'volunteer', 'time']]);
  });

  it('publishes a role lost and won back between two rounds as two changes, each at its moment, in order', async () => {
    const { store, on, life, sweep, lastSeq } = setup();
    const HOUR = 3_600_000;
    await life(on, 'u', 'completing_lessons', T0); // +5, expires at EXPIRY
    await life(on, 'u', 'cheat', T0 + HOUR); // −2 and a medium paap (weight 2.5), both for a year
    for (let i = 0; i < 10; i++) await life(on, 'u', 'completing_lessons', T0 + 2 * HOUR); // +50, two hours later: 53, volunteer
    expect(store.roles.get('u')).toMatchObject({ role: 'volunteer', nextTimeChangeAt: EXPIRY });

    // 48 from EXPIRY (learner), 50 from an hour later (volunteer): the round after both sees volunteer, as published.
    const seq = lastSeq();
    const [lost, regained, ...rest] = await sweep(on, EXPIRY + 90 * 60_000);
    expect(rest).toEqual([]);
    expect(lost).toEqual({ id: `karma:role_changed:${seq}:time:${EXPIRY}`, userId: 'u', from: 'volunteer', to: 'learner', cause: 'time', netKarma: 48 - 2.5, merit: 48, ledgerSeq: seq, eventId: null, at: EXPIRY });
    expect(regained).toEqual({ id: `karma:role_changed:${seq}:time:${EXPIRY + HOUR}`, userId: 'u', from: 'learner', to: 'volunteer', cause: 'time', netKarma: 50, merit: 50, ledgerSeq: seq, eventId: null, at: EXPIRY + HOUR });
    expect(store.roles.get('u')).toMatchObject({ role: 'volunteer', at: EXPIRY + HOUR, nextTimeChangeAt: EXPIRY + 2 * HOUR });
    expect(transitions(await sweep(on, EXPIRY + 3 * HOUR))).toEqual([['u', 'volunteer', 'learner', 'time']]);
  });

  it('with router events off an event publishes nothing and the published role stays; turned on, the change is published once, cause event', async () => {
    const { store, on, off, life, sweep } = setup();
    for (let i = 0; i < 9; i++) await life(on, 'u', 'completing_lessons', T0 + i); // 45: learner, nothing published
    const up = await life(off, 'u', 'completing_lessons', T0 + 9); // 50: volunteer, but router events are off
    expect(up.reply.data).toMatchObject({ role_before: 'learner', role_after: 'volunteer' });
    expect(up.roleChanges).toEqual([]);
    const upSeq = store.ledger[store.ledger.length - 1].seq;
    // Nothing was published, so nothing is recorded as published; the row is due at once for when they are on again.
    expect(store.roles.get('u')).toEqual({ userId: 'u', role: null, ledgerSeq: null, at: null, nextTimeChangeAt: T0 + 9, unpublishedEventSeq: upSeq });
    expect((await life(off, 'u', 'idle', T0 + 10)).roleChanges).toEqual([]);
    expect(await sweep(off, T0 + 11)).toEqual([]);
    expect(store.roles.get('u')).toMatchObject({ role: null, unpublishedEventSeq: upSeq });

    // On again: the sweep publishes the change the event made, with that event's id and cause, at the moment the row
    // was last written while it was held back (the idle event's; nothing later moved the role).
    const [held] = await sweep(on, T0 + 12);
    expect(held).toMatchObject({ id: `karma:role_changed:${upSeq}`, from: 'learner', to: 'volunteer', cause: 'event', ledgerSeq: upSeq, eventId: up.reply.data.event_id, at: T0 + 10 });
    expect(store.roles.get('u')).toMatchObject({ role: 'volunteer', unpublishedEventSeq: null, nextTimeChangeAt: EXPIRY });
    expect(await sweep(on, T0 + 13)).toEqual([]);
  });

  it('with router events off, a change time made is published by the next event once they are on, cause time', async () => {
    const { store, on, off, life } = setup();
    for (let i = 0; i < 10; i++) await life(on, 'u', 'completing_lessons', T0 + i); // volunteer, published
    expect((await life(off, 'u', 'idle', EXPIRY + DAY_MS)).roleChanges).toEqual([]); // learner by time; not published
    expect(store.roles.get('u')).toMatchObject({ role: 'volunteer', unpublishedEventSeq: null, nextTimeChangeAt: EXPIRY + DAY_MS });
    const next = await life(on, 'u', 'idle', EXPIRY + 2 * DAY_MS);
    expect(next.roleChanges.map((c) => [c.id, c.from, c.to, c.cause])).toEqual([[`karma:role_changed:${store.ledger.length}:time`, 'volunteer', 'learner', 'time']]);
  });

  it('with router events off, a role that goes back to the published one leaves nothing to publish', async () => {
    const { store, on, off, life } = setup();
    for (let i = 0; i < 9; i++) await life(on, 'u', 'completing_lessons', T0 + i); // 45
    await life(off, 'u', 'completing_lessons', T0 + 9); // 50: volunteer, held back
    await life(off, 'u', 'cheat', T0 + 10); // 48: learner again, as published
    expect(store.roles.get('u')).toMatchObject({ role: null, unpublishedEventSeq: null });
    expect((await life(on, 'u', 'idle', T0 + 11)).roleChanges).toEqual([]);
  });

  it('for any events and sweeps: changes chain, ids are unique, and a user not due has the role last published', async () => {
    const users = ['ana', 'bo'];
    const actions = ['completing_lessons', 'helping_peers', 'selfless_service', 'cheat', 'idle', 'theft'];
    const dt = fc.oneof(fc.integer({ min: 0, max: 5 * DAY_MS }), fc.integer({ min: 0, max: 120 * DAY_MS }), fc.integer({ min: 300 * DAY_MS, max: 400 * DAY_MS }));
    const step = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('life' as const), user: fc.constantFrom(...users), action: fc.constantFrom(...actions), dt, publish: fc.boolean() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('sweep' as const), dt, publish: fc.constant(true) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('look' as const), dt, publish: fc.constant(true) }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const { store, on, off, life, sweep } = setup();
        const published = new Map<string, string>();
        const ids = new Set<string>();
        const take = (changes: RoleChange[]) => {
          for (const c of changes) {
            expect(c.from).toBe(published.get(c.userId) ?? 'learner');
            expect(ids.has(c.id)).toBe(false);
            ids.add(c.id);
            published.set(c.userId, c.to);
          }
        };
        let now = T0;
        for (const s of steps) {
          now += s.dt;
          if (s.kind === 'life') take((await life(s.publish ? on : off, s.user, s.action, now)).roleChanges);
          else if (s.kind === 'sweep') take(await sweep(on, now));
          // The sweep skips every row that is not due: that is only right if such a user's role is the published one.
          for (const u of users) {
            const row = store.roles.get(u);
            expect(row?.role ?? 'learner').toBe(published.get(u) ?? 'learner');
            if (!row || row.nextTimeChangeAt === null || row.nextTimeChangeAt > now) {
              expect(roleFor(cfg, meritAt(cfg, await store.userEntries(u), now))).toBe(published.get(u) ?? 'learner');
            }
          }
        }
        // A sweep with router events on leaves every user's published role the role as of then.
        take(await sweep(on, now));
        for (const u of users) expect(published.get(u) ?? 'learner').toBe(roleFor(cfg, meritAt(cfg, await store.userEntries(u), now)));
      }),
      { numRuns: 150 },
    );
  });
});
