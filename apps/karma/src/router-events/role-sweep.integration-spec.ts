/**
 * Karma's role sweep publishes the role changes time makes when they happen, not at the user's next event (real
 * PostgreSQL, the outbox, a stand-in Core). Rounds are run by the test with Karma's clock set (KarmaRoleSweep.runOnce),
 * the timer is driven through an injected one, and every wait is on a condition: a gate the test opens, a session
 * PostgreSQL reports as waiting for a lock, a request Core received.
 */
import { CORE_EVENTS_BATCH_ROUTE, RequesterId } from '@pancha/contracts';
import { OutboxService } from '@pancha/outbox';
import { createTestDatabase, createTestKeys, eventually, StandInServer, type ServiceWithDatabase, type TestDatabase, type TestKeys } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { FixedClock } from '../clock/clock';
import { KarmaRoleSweep, RoleSweepTimer } from '../ledger/role-sweep.service';
import { DAY_MS } from '../model/ledger-entry';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(240_000);

const T0 = Date.parse('2025-06-01T08:00:00.000Z');
/** When a grant recorded at T0 expires (Dharma: 365 days). */
const EXPIRY = T0 + 365 * DAY_MS;

interface RoleEvent {
  id: string;
  time: string;
  data: { user_id: string; role: string; previous_role: string; cause: string; ledger_seq: number; karma_event_id?: string; merit: number; at: string };
}

/** The schedule's clock, fired by the test. */
class ManualTimer extends RoleSweepTimer {
  readonly armed: Array<{ ms: number; fire: () => void }> = [];

  override start(ms: number, fire: () => void): () => void {
    const entry = { ms, fire };
    this.armed.push(entry);
    return () => this.armed.splice(this.armed.indexOf(entry) >>> 0, 1);
  }

  fire(): void {
    const next = this.armed.shift();
    if (!next) throw new Error('nothing is armed');
    next.fire();
  }
}

/** The sweep's fold (KarmaRoleSweep's private step between claiming its users and settling them), for a test to pause. */
type Foldable = { fold: (...args: unknown[]) => Promise<unknown> };

/** Pauses the next fold of `sweep` until the returned gate opens; `folding` resolves once it has started. */
function pauseFold(sweep: KarmaRoleSweep): { folding: Promise<void>; resume: () => void; restore: () => void } {
  const target = sweep as unknown as Foldable;
  const fold = target.fold.bind(sweep);
  const started = gate();
  const paused = gate();
  const spy = jest.spyOn(target, 'fold').mockImplementationOnce(async (...args: unknown[]) => {
    started.open();
    await paused.wait;
    return fold(...args);
  });
  return { folding: started.wait, resume: paused.open, restore: () => (paused.open(), spy.mockRestore()) };
}

/** A promise the test resolves: what a paused transaction waits on. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe('karma.role_changed from the role sweep (real PostgreSQL, outbox to a stand-in Core)', () => {
  /** Karma's clock, set by each test (every Karma here reads it). */
  const clock = new FixedClock(T0);
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');
  let keys: TestKeys;

  const life = async (karma: ServiceWithDatabase, user_id: string, action: string, event_id: string = randomUUID()) => {
    const res = await request(karma.url)
      .post('/v1/event/')
      .set('authorization', `Bearer ${await karma.keys.mint(RequesterId.Core, 'karma')}`)
      .send({ type: 'life_event', data: { user_id, action, event_id }, source: 'test' });
    expect(res.status).toBe(200);
    return res;
  };
  const volunteer = async (karma: ServiceWithDatabase, user: string) => {
    for (let i = 0; i < 10; i++) await life(karma, user, 'completing_lessons'); // 50 Dharma at T0: volunteer until EXPIRY
  };
  const enqueued = async (karma: ServiceWithDatabase, user?: string): Promise<Array<RoleEvent & { ordering_key: string }>> =>
    (
      await karma.dataSource.query(`SELECT payload, ordering_key FROM outbox WHERE $1::text IS NULL OR payload->>'subject' = $1 ORDER BY seq`, [user ?? null])
    ).map((r: { payload: RoleEvent; ordering_key: string }) => ({ ...r.payload, ordering_key: r.ordering_key }));
  const transitions = (events: RoleEvent[]) => events.map((e) => [e.data.user_id, e.data.previous_role, e.data.role, e.data.cause]);
  const row = async (karma: ServiceWithDatabase, user: string) =>
    (
      await karma.dataSource.query(
        `SELECT role, ledger_seq::int AS ledger_seq, next_time_change_at, unpublished_event_seq::int AS unpublished_event_seq FROM karma_published_role WHERE user_id = $1`,
        [user],
      )
    )[0];
  const lastSeq = async (karma: ServiceWithDatabase, user: string): Promise<number> =>
    (await karma.dataSource.query(`SELECT max(seq)::int AS seq FROM karma_ledger WHERE user_id = $1`, [user]))[0].seq;
  const sentToCore = (user: string) => core.requests.filter((r) => r.path === '/events' && (r.body as RoleEvent).data?.user_id === user).map((r) => (r.body as RoleEvent).id);
  /** Sessions of this database waiting for a lock (an ingest batch waiting for a row the sweep holds). */
  const waitingForLock = async (karma: ServiceWithDatabase): Promise<number> =>
    (await karma.dataSource.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))[0].n;

  /**
   * Resolves once a session of this database is seen waiting for a lock (polling pg_stat_activity until `stop`; it
   * never resolves if none is): the condition an event racing a paused sweep must never meet.
   */
  const lockWaitSeen = (karma: ServiceWithDatabase) => {
    let stopped = false;
    const seen = (async () => {
      while (!stopped) {
        if ((await waitingForLock(karma)) > 0) return 'an ingest batch waited for a lock';
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return new Promise<string>(() => undefined);
    })();
    return { seen, stop: () => (stopped = true) };
  };
  /** Volunteer at T0 + 2 h with 53 merit that falls to 48 at EXPIRY (learner) and rises to 50 an hour later (volunteer). */
  const HOUR = 3_600_000;
  const seesaw = async (karma: ServiceWithDatabase, user: string) => {
    clock.set(T0);
    await life(karma, user, 'completing_lessons'); // +5 Dharma until EXPIRY
    clock.set(T0 + HOUR);
    await life(karma, user, 'cheat'); // −2 Dharma until EXPIRY + 1 h
    clock.set(T0 + 2 * HOUR);
    for (let i = 0; i < 10; i++) await life(karma, user, 'completing_lessons'); // +50 until EXPIRY + 2 h
  };

  beforeAll(async () => {
    keys = createTestKeys('karma-role-sweep');
    await core.start();
  });

  afterAll(async () => {
    await core.close();
    keys?.remove();
  });

  describe('one Karma, rounds run by the test', () => {
    let karma: ServiceWithDatabase;
    const sweep = () => karma.app.get(KarmaRoleSweep).runOnce();

    beforeAll(async () => {
      karma = await bootKarma({ database: 'karma_role_sweep', keys, coreUrl: core.url, clock });
    });

    afterAll(async () => {
      await karma?.close();
    });

    it('publishes a role lost to expiry at the first round after it expires, once, with no event from the user', async () => {
      clock.set(T0);
      await volunteer(karma, 'lapser');
      await life(karma, 'steady', 'selfless_service'); // 75 PunyaTokens merit: volunteer for two years
      await life(karma, 'small', 'completing_lessons'); // 5: a learner whose merit only falls: nothing to watch
      expect(transitions(await enqueued(karma, 'lapser'))).toEqual([['lapser', 'learner', 'volunteer', 'event']]);
      // Each row says when time may first move the role: the expiry of the grants.
      expect(await row(karma, 'lapser')).toMatchObject({ role: 'volunteer', next_time_change_at: new Date(EXPIRY) });
      expect(await row(karma, 'steady')).toMatchObject({ role: 'volunteer', next_time_change_at: new Date(T0 + 730 * DAY_MS) });
      expect(await row(karma, 'small')).toBeUndefined();

      clock.set(EXPIRY - 1);
      await expect(sweep()).resolves.toEqual({ checked: 0, published: 0 });

      clock.set(EXPIRY);
      await expect(sweep()).resolves.toEqual({ checked: 1, published: 1 });
      const seq = await lastSeq(karma, 'lapser');
      const events = await enqueued(karma, 'lapser');
      expect(events).toHaveLength(2);
      expect(events[1]).toEqual({
        id: `karma:role_changed:${seq}:time:${EXPIRY}`,
        type: 'karma.role_changed',
        source: 'karma',
        subject: 'lapser',
        time: new Date(EXPIRY).toISOString(),
        data: { user_id: 'lapser', role: 'learner', previous_role: 'volunteer', cause: 'time', net_karma: 0, merit: 0, ledger_seq: seq, at: new Date(EXPIRY).toISOString() },
        ordering_key: 'karma:role:lapser',
      });
      expect(await row(karma, 'lapser')).toMatchObject({ role: 'learner', ledger_seq: seq, next_time_change_at: null });
      await eventually(() => expect(sentToCore('lapser').sort()).toEqual(events.map((e) => e.id).sort()), { what: "the lapser's two changes to reach Core" });

      // Nothing twice: not by the next round, not by the user's next event.
      await expect(sweep()).resolves.toEqual({ checked: 0, published: 0 });
      clock.set(EXPIRY + DAY_MS);
      await life(karma, 'lapser', 'idle');
      expect(await enqueued(karma, 'lapser')).toHaveLength(2);
    });

    it('an event for a user whose row a batch is settling waits for that short transaction, then finds the role as published', async () => {
      clock.set(T0);
      await volunteer(karma, 'racer');
      clock.set(EXPIRY + 1);
      const outbox = karma.app.get(OutboxService);
      const enqueue = outbox.enqueueAll.bind(outbox);
      const paused = gate();
      // The batch's settling transaction stops just before it enqueues: the row is locked and updated, not yet committed.
      const spy = jest.spyOn(outbox, 'enqueueAll').mockImplementationOnce(async (manager, messages) => {
        await paused.wait;
        return enqueue(manager, messages);
      });
      try {
        const round = sweep();
        await eventually(() => expect(spy).toHaveBeenCalledTimes(1), { what: 'the sweep to reach its enqueue' });
        const event = life(karma, 'racer', 'idle');
        await eventually(async () => expect(await waitingForLock(karma)).toBe(1), { what: "the event's batch to wait for the racer's row" });
        paused.open();
        await expect(round).resolves.toEqual({ checked: 1, published: 1 });
        await event;
      } finally {
        spy.mockRestore();
      }
      // One loss, the sweep's; the event found learner, as published.
      const events = await enqueued(karma, 'racer');
      expect(transitions(events)).toEqual([
        ['racer', 'learner', 'volunteer', 'event'],
        ['racer', 'volunteer', 'learner', 'time'],
      ]);
      expect(events[1].id).toMatch(/:time:\d+$/);
    });

    it('an event for a user the sweep is folding is recorded without waiting for the fold, and the sweep leaves that user to it', async () => {
      clock.set(T0);
      await volunteer(karma, 'folded');
      clock.set(EXPIRY + 3);
      const sweeper = karma.app.get(KarmaRoleSweep);
      const pause = pauseFold(sweeper);
      const watch = lockWaitSeen(karma);
      try {
        const round = sweep();
        await pause.folding;
        // The sweep has claimed the user and is folding their ledger: the event's batch (ledger lock, then the user's
        // row) must go through now, not once the fold is over.
        const recorded = life(karma, 'folded', 'idle').then(() => 'recorded');
        await expect(Promise.race([recorded, watch.seen])).resolves.toBe('recorded');
        pause.resume();
        // The row was written meanwhile: the sweep publishes nothing for it and leaves it.
        await expect(round).resolves.toEqual({ checked: 0, published: 0 });
      } finally {
        watch.stop();
        pause.restore();
      }
      const events = await enqueued(karma, 'folded');
      expect(transitions(events)).toEqual([
        ['folded', 'learner', 'volunteer', 'event'],
        ['folded', 'volunteer', 'learner', 'time'],
      ]);
      expect(events[1].id).toMatch(/:time$/); // the event's
      expect(await row(karma, 'folded')).toMatchObject({ role: 'learner', next_time_change_at: null });
      await expect(sweep()).resolves.toEqual({ checked: 0, published: 0 });
    });

    it('a user whose row an event held at settle time without writing it (a stats request) is due to the next round, not claimed for 10 minutes', async () => {
      clock.set(T0);
      await volunteer(karma, 'held-row');
      clock.set(EXPIRY + 5);
      const pause = pauseFold(karma.app.get(KarmaRoleSweep));
      // Stands for an ingest batch of an event that writes nothing to the row: it locks the row, and commits as it was.
      const ingest = karma.dataSource.createQueryRunner();
      await ingest.connect();
      try {
        const round = sweep();
        await pause.folding;
        await ingest.startTransaction();
        await ingest.query(`SELECT 1 FROM karma_published_role WHERE user_id = 'held-row' FOR UPDATE`);
        pause.resume();
        // The batch settles without the row (SKIP LOCKED), then lets go of its claim, waiting for the row if it must.
        const releaseWaits = (async () => {
          for (;;) {
            const [{ n }] = await karma.dataSource.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND position('unnest($1::text[], $2::text[])' in query) > 0`,
            );
            if (n > 0) return;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        })();
        await Promise.race([round, releaseWaits]);
        await ingest.commitTransaction();
        await expect(round).resolves.toEqual({ checked: 0, published: 0 });
      } finally {
        pause.restore();
        if (ingest.isTransactionActive) await ingest.rollbackTransaction();
        await ingest.release();
      }
      const [{ claimed }] = await karma.dataSource.query(`SELECT sweep_claimed_until IS NOT NULL AS claimed FROM karma_published_role WHERE user_id = 'held-row'`);
      expect(claimed).toBe(false);
      // The next round takes the user at once.
      await expect(sweep()).resolves.toEqual({ checked: 1, published: 1 });
      expect(transitions(await enqueued(karma, 'held-row'))).toEqual([
        ['held-row', 'learner', 'volunteer', 'event'],
        ['held-row', 'volunteer', 'learner', 'time'],
      ]);
    });

    it('a backlog due since the epoch (the upgrade) does not hold back a user due now: the first batch takes them', async () => {
      clock.set(T0);
      await volunteer(karma, 'current');
      const backlog = Array.from({ length: 150 }, (_, i) => `backlog${i}`); // more than a batch (100)
      await karma.dataSource.query(
        `INSERT INTO karma_published_role (user_id, next_time_change_at) SELECT u, to_timestamp(0) FROM unnest($1::text[]) u`,
        [backlog],
      );
      clock.set(EXPIRY + 4);
      const sweeper = karma.app.get(KarmaRoleSweep);
      await expect(sweeper.sweepBatch()).resolves.toMatchObject({ claimed: 100, checked: 100, published: 1 });
      expect(transitions(await enqueued(karma, 'current'))).toEqual([
        ['current', 'learner', 'volunteer', 'event'],
        ['current', 'volunteer', 'learner', 'time'],
      ]);
      await expect(sweep()).resolves.toEqual({ checked: 51, published: 0 });
    });

    it('an event that comes first publishes the change itself, and the round after it has nothing to do', async () => {
      clock.set(T0);
      await volunteer(karma, 'early');
      clock.set(EXPIRY + 2);
      const idle = await life(karma, 'early', 'idle');
      const [entry] = await karma.dataSource.query(`SELECT seq::int AS seq FROM karma_ledger WHERE event_id = $1`, [idle.body.data.event_id]);
      await expect(sweep()).resolves.toEqual({ checked: 0, published: 0 });
      expect((await enqueued(karma, 'early')).map((e) => [e.id, e.data.cause])).toEqual([
        [expect.any(String), 'event'],
        [`karma:role_changed:${entry.seq}:time`, 'time'],
      ]);
    });
  });

  describe('two replicas on one database', () => {
    let db: TestDatabase;
    let a: ServiceWithDatabase;
    let b: ServiceWithDatabase;

    beforeAll(async () => {
      db = await createTestDatabase('karma_role_sweep_replicas');
      const env = { KARMA_ROLE_SWEEP_BATCH_SIZE: '2' };
      a = await bootKarma({ database: db, keys, coreUrl: core.url, clock, env });
      b = await bootKarma({ database: db, keys, coreUrl: core.url, clock, env });
    });

    afterAll(async () => {
      await a?.close();
      await b?.close();
      await db?.drop();
    });

    it('rounds running at once publish each change once: a replica skips the rows another holds', async () => {
      const users = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
      clock.set(T0);
      for (const u of users) await volunteer(a, u);
      clock.set(EXPIRY);
      const outbox = a.app.get(OutboxService);
      const enqueue = outbox.enqueueAll.bind(outbox);
      const paused = gate();
      const spy = jest.spyOn(outbox, 'enqueueAll').mockImplementationOnce(async (manager, messages) => {
        await paused.wait;
        return enqueue(manager, messages);
      });
      try {
        // Replica a takes a batch of two and stops before its commit; replica b's whole round runs meanwhile.
        const first = a.app.get(KarmaRoleSweep).runOnce();
        await eventually(() => expect(spy).toHaveBeenCalledTimes(1), { what: "replica a's first batch to hold its rows" });
        await expect(b.app.get(KarmaRoleSweep).runOnce()).resolves.toEqual({ checked: 4, published: 4 });
        paused.open();
        await expect(first).resolves.toEqual({ checked: 2, published: 2 });
      } finally {
        spy.mockRestore();
      }
      const losses = (await enqueued(a)).filter((e) => e.data.cause === 'time');
      expect(losses.map((e) => e.data.user_id).sort()).toEqual(users);
      expect(new Set(losses.map((e) => e.id)).size).toBe(users.length);
      await expect(b.app.get(KarmaRoleSweep).runOnce()).resolves.toEqual({ checked: 0, published: 0 });
    });

    it('a role lost and won back between two rounds is published as both changes, at their moments, in order, once across the replicas', async () => {
      const users = ['s1', 's2', 's3'];
      for (const u of users) await seesaw(a, u);
      clock.set(EXPIRY + 90 * 60_000); // after the loss (EXPIRY) and the regain (EXPIRY + 1 h): volunteer again, as published
      const sweepA = a.app.get(KarmaRoleSweep);
      const sweepB = b.app.get(KarmaRoleSweep);
      const pause = pauseFold(sweepA);
      try {
        // Replica a claims a batch of two and stops in its fold; b takes the one left.
        const first = sweepA.runOnce();
        await pause.folding;
        await expect(sweepB.runOnce()).resolves.toEqual({ checked: 1, published: 2 });
        // a's claims lapse (as after a stall): b folds a's users too and settles them first.
        await b.dataSource.query(`UPDATE karma_published_role SET sweep_claimed_until = NULL`);
        await expect(sweepB.runOnce()).resolves.toEqual({ checked: 2, published: 4 });
        // a finds its rows written meanwhile and publishes nothing.
        pause.resume();
        await expect(first).resolves.toEqual({ checked: 0, published: 0 });
      } finally {
        pause.restore();
      }
      for (const u of users) {
        const events = await enqueued(a, u);
        const seq = await lastSeq(a, u);
        expect(events.map((e) => [e.data.previous_role, e.data.role, e.data.cause, e.time])).toEqual([
          ['learner', 'volunteer', 'event', new Date(T0 + 2 * HOUR).toISOString()],
          ['volunteer', 'learner', 'time', new Date(EXPIRY).toISOString()],
          ['learner', 'volunteer', 'time', new Date(EXPIRY + HOUR).toISOString()],
        ]);
        expect(events.slice(1).map((e) => [e.id, e.data.merit, e.data.at])).toEqual([
          [`karma:role_changed:${seq}:time:${EXPIRY}`, 48, new Date(EXPIRY).toISOString()],
          [`karma:role_changed:${seq}:time:${EXPIRY + HOUR}`, 50, new Date(EXPIRY + HOUR).toISOString()],
        ]);
        expect(await row(a, u)).toMatchObject({ role: 'volunteer', next_time_change_at: new Date(EXPIRY + 2 * HOUR) });
        await eventually(() => expect(sentToCore(u)).toEqual(events.map((e) => e.id)), { what: `${u}'s three changes to reach Core, once each, in order` });
      }
      await expect(sweepA.runOnce()).resolves.toEqual({ checked: 0, published: 0 });
    });
  });

  describe('router events off, then on again', () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await createTestDatabase('karma_role_events_off');
    });

    afterAll(async () => {
      await db?.drop();
    });

    it('nothing published while off is recorded as published; once on, each held-back change is published once, with its cause', async () => {
      const on1 = await bootKarma({ database: db, keys, coreUrl: core.url, clock });
      try {
        clock.set(T0);
        await volunteer(on1, 'offlapser'); // published: learner → volunteer
        await eventually(() => expect(sentToCore('offlapser')).toHaveLength(1), { what: 'the gain to reach Core before this Karma stops' });
      } finally {
        await on1.close();
      }

      // Router events off (and so no sweep): an event and time both move roles, and nothing is published.
      const off = await bootKarma({ database: db, keys, clock, env: { KARMA_ROLE_SWEEP_INTERVAL_MS: '60000' } });
      let riserSeq: number;
      let riserEvent: string;
      try {
        const up = await life(off, 'offriser', 'selfless_service'); // 75: volunteer, by this event
        riserEvent = up.body.data.event_id;
        riserSeq = await lastSeq(off, 'offriser');
        clock.set(EXPIRY + DAY_MS);
        expect((await life(off, 'offlapser', 'idle')).body.data).toMatchObject({ role_before: 'learner', role_after: 'learner' }); // learner by time
        expect(transitions(await enqueued(off))).toEqual([['offlapser', 'learner', 'volunteer', 'event']]);
        expect(await row(off, 'offriser')).toMatchObject({ role: null, unpublished_event_seq: riserSeq, next_time_change_at: new Date(T0) });
        expect(await row(off, 'offlapser')).toMatchObject({ role: 'volunteer', unpublished_event_seq: null, next_time_change_at: new Date(EXPIRY + DAY_MS) });
        await expect(off.app.get(KarmaRoleSweep).runOnce()).resolves.toEqual({ checked: 0, published: 0 });
      } finally {
        await off.close();
      }

      const on2 = await bootKarma({ database: db, keys, coreUrl: core.url, clock });
      try {
        await expect(on2.app.get(KarmaRoleSweep).runOnce()).resolves.toEqual({ checked: 2, published: 2 });
        const events = await enqueued(on2);
        expect(transitions(events)).toEqual([
          ['offlapser', 'learner', 'volunteer', 'event'],
          ['offriser', 'learner', 'volunteer', 'event'],
          ['offlapser', 'volunteer', 'learner', 'time'],
        ]);
        // The held-back gain has the id and event it would have had; the loss time made, the sweep's.
        expect(events[1]).toMatchObject({ id: `karma:role_changed:${riserSeq}`, data: { ledger_seq: riserSeq, karma_event_id: riserEvent } });
        expect(events[2].id).toBe(`karma:role_changed:${await lastSeq(on2, 'offlapser')}:time:${EXPIRY + DAY_MS}`);
        expect(await row(on2, 'offriser')).toMatchObject({ role: 'volunteer', unpublished_event_seq: null });
        await eventually(() => expect([...sentToCore('offlapser'), ...sentToCore('offriser')].sort()).toEqual(events.map((e) => e.id).sort()), {
          what: 'the held-back changes to reach Core',
        });
        await expect(on2.app.get(KarmaRoleSweep).runOnce()).resolves.toEqual({ checked: 0, published: 0 });
      } finally {
        await on2.close();
      }
    });
  });

  describe('the schedule (an injected timer)', () => {
    it('arms a round of KARMA_ROLE_SWEEP_INTERVAL_MS at start, runs it when it fires, re-arms, and stops at shutdown', async () => {
      const timer = new ManualTimer();
      const karma = await bootKarma({
        database: 'karma_role_sweep_timer',
        keys,
        coreUrl: core.url,
        env: { KARMA_ROLE_SWEEP_INTERVAL_MS: '45000' },
        override: (builder) => builder.overrideProvider(RoleSweepTimer).useValue(timer),
      });
      try {
        expect(timer.armed.map((t) => t.ms)).toEqual([45_000]);
        const runs = jest.spyOn(karma.app.get(KarmaRoleSweep), 'runOnce');
        timer.fire();
        expect(runs).toHaveBeenCalledTimes(1);
        await eventually(() => expect(timer.armed.map((t) => t.ms)).toEqual([45_000]), { what: 'the round to end and the next to be armed' });
      } finally {
        await karma.close();
      }
      expect(timer.armed).toEqual([]);
    });

    it('arms nothing when router events are off, or the interval is 0', async () => {
      for (const env of [{ KARMA_ROLE_SWEEP_INTERVAL_MS: '45000', KARMA_ROUTER_EVENTS_ENABLED: 'false' }, { KARMA_ROLE_SWEEP_INTERVAL_MS: '0' }]) {
        const timer = new ManualTimer();
        const karma = await bootKarma({ database: 'karma_role_sweep_timer_off', keys, coreUrl: core.url, env, override: (builder) => builder.overrideProvider(RoleSweepTimer).useValue(timer) });
        try {
          expect(timer.armed).toEqual([]);
        } finally {
          await karma.close();
        }
      }
    });
  });
});
