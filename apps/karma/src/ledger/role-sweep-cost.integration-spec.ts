/**
 * What a role-sweep round costs (real PostgreSQL): prints the time of a round of KARMA_ROLE_SWEEP_BATCH_SIZE (100)
 * due users, each with 20 ledger entries (10 decaying Seva grants, 10 Dharma grants) and a role lost at their expiry,
 * and of the first round after the upgrade (migration 1766000000000) with a backlog of users due at the epoch ahead of
 * the users due now. Numbers to read, not assertions (the machine is shared): run with KARMA_SWEEP_COST=1.
 */
import { CORE_EVENTS_BATCH_ROUTE } from '@pancha/contracts';
import { createTestKeys, StandInServer, type ServiceWithDatabase, type TestKeys } from '@pancha/testing';
import { FixedClock } from '../clock/clock';
import { KarmaEngine } from '../engine/karma-engine';
import { DAY_MS } from '../model/ledger-entry';
import { bootKarma } from '../testing/karma-test-app';
import { KarmaRoleSweep } from './role-sweep.service';

jest.setTimeout(900_000);

const T0 = Date.parse('2025-06-01T08:00:00.000Z');
const EXPIRY = T0 + 365 * DAY_MS;
const ENTRIES = 20;
const run = process.env['KARMA_SWEEP_COST'] === '1';
if (!run) console.warn('[karma] KARMA_SWEEP_COST is unset: skipping the role sweep cost measurement');

(run ? describe : describe.skip)('role sweep cost (printed, not asserted)', () => {
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');
  const clock = new FixedClock(EXPIRY + 3_600_000);
  let keys: TestKeys;
  let karma: ServiceWithDatabase;

  /** Users `prefix0…` with ENTRIES entries each recorded from T0, a published volunteer role and the row due at `due`. */
  async function seed(prefix: string, users: number, due: Date): Promise<void> {
    await karma.dataSource.query(
      `WITH u AS (SELECT $1 || g AS user_id, gen_random_uuid() AS event_id FROM generate_series(0, $2 - 1) g),
       ev AS (INSERT INTO karma_event (event_id, type, user_id, fingerprint, source, occurred_at, recorded_at, reply)
              SELECT event_id, 'life_event', user_id, repeat('f', 64), 'bench', $3, $3, '{}' FROM u)
       INSERT INTO karma_ledger (event_id, user_id, kind, action, token, amount, details, effective_at, occurred_at)
       SELECT u.event_id, u.user_id, 'action', CASE WHEN i % 2 = 0 THEN 'helping_peers' ELSE 'completing_lessons' END,
              CASE WHEN i % 2 = 0 THEN 'SevaPoints' ELSE 'DharmaPoints' END, CASE WHEN i % 2 = 0 THEN 10 ELSE 5 END, '{}',
              $3::timestamptz + i * interval '1 minute', $3::timestamptz + i * interval '1 minute'
       FROM u, generate_series(0, $4 - 1) i ORDER BY u.user_id, i`,
      [prefix, users, new Date(T0), ENTRIES],
    );
    await karma.dataSource.query(
      `INSERT INTO karma_published_role (user_id, role, ledger_seq, published_at, next_time_change_at)
       SELECT user_id, 'volunteer', max(seq), $2, $3 FROM karma_ledger WHERE user_id LIKE $1 || '%' GROUP BY user_id`,
      [prefix, new Date(T0), due],
    );
  }
  const reset = (prefix: string, due: Date) =>
    karma.dataSource.query(
      `UPDATE karma_published_role SET role = 'volunteer', published_at = $2, next_time_change_at = $3, sweep_claimed_until = NULL WHERE user_id LIKE $1 || '%'`,
      [prefix, new Date(T0), due],
    );

  beforeAll(async () => {
    keys = createTestKeys('karma-sweep-cost');
    await core.start();
    karma = await bootKarma({ database: 'karma_role_sweep_cost', keys, coreUrl: core.url, clock });
  });

  afterAll(async () => {
    await karma?.close();
    await core.close();
    keys?.remove();
  });

  it('a round of 100 due users', async () => {
    await seed('n', 100, new Date(EXPIRY));
    const sweep = karma.app.get(KarmaRoleSweep);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      await reset('n', new Date(EXPIRY));
      const started = performance.now();
      const result = await sweep.runOnce();
      times.push(performance.now() - started);
      expect(result).toMatchObject({ checked: 100 });
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(`[role sweep cost] round of 100 users × ${ENTRIES} entries: median ${sorted[3].toFixed(0)} ms (min ${sorted[0].toFixed(0)}, max ${sorted[6].toFixed(0)}; all ${times.map((t) => t.toFixed(0)).join(', ')})`);
  });

  it('the first round after the upgrade: a backlog due at the epoch ahead of the users due now', async () => {
    const backlog = Number(process.env['KARMA_SWEEP_BACKLOG'] ?? 3000);
    await seed('b', backlog, new Date(0));
    await reset('n', new Date(EXPIRY));
    const sweep = karma.app.get(KarmaRoleSweep);
    // The order users are folded in (KarmaEngine.sweep, one call per user in every version of the round).
    const engine = karma.app.get(KarmaEngine);
    const folded: string[] = [];
    const fold = engine.sweep.bind(engine);
    const spy = jest.spyOn(engine, 'sweep').mockImplementation((row, entries, now) => {
      folded.push(row.userId);
      return fold(row, entries, now);
    });
    const started = performance.now();
    let result;
    try {
      result = await sweep.runOnce();
    } finally {
      spy.mockRestore();
    }
    const ms = performance.now() - started;
    expect(result).toMatchObject({ checked: backlog + 100 });
    const position = folded.findIndex((u) => u.startsWith('n'));
    console.log(
      `[role sweep cost] first round after the upgrade: ${backlog} backlog users + 100 due now, ${result.checked} checked in ${ms.toFixed(0)} ms ` +
        `(${(ms / (result.checked / 100)).toFixed(0)} ms per batch of 100); the first user due now is folded ${position + 1}th of ${folded.length}`,
    );
  });
});
