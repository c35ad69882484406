import fc from 'fast-check';
import { loadKarmaConfig } from '../config/karma-config';
import { meritAt, nextRoleChangeAt, roleFor } from './karma-model';
import { DAY_MS, type LedgerEntry } from './ledger-entry';

const cfg = loadKarmaConfig();
const T0 = Date.parse('2025-01-01T08:00:00.000Z');

let seq = 0;
function grant(token: string, amount: number, at: number): LedgerEntry {
  seq += 1;
  return { seq, eventId: `e${seq}`, userId: 'u', kind: 'action', action: 'x', token, amount, paapClass: null, refSeq: null, details: {}, at, occurredAt: at };
}

const roleAt = (entries: LedgerEntry[], t: number) => roleFor(cfg, meritAt(cfg, entries, t));

/**
 * The first moment after `from` the role differs, by brute force: merit only changes at an entry's start, at each
 * whole day after it while it decays, and at its expiry, so those moments are all the candidates.
 */
function bruteForce(entries: LedgerEntry[], from: number): number | null {
  const moments = new Set<number>();
  for (const e of entries) {
    const rule = e.kind === 'action' && e.token ? cfg.tokens[e.token] : undefined;
    if (!rule) continue;
    moments.add(e.at);
    const end = e.at + rule.expiryDays * DAY_MS;
    moments.add(end);
    if (rule.dailyDecay > 0) for (let t = e.at + DAY_MS; t < end; t += DAY_MS) moments.add(t);
  }
  const role = roleAt(entries, from);
  for (const t of [...moments].filter((m) => m > from).sort((a, b) => a - b)) if (roleAt(entries, t) !== role) return t;
  return null;
}

describe('nextRoleChangeAt (when time alone can next move a role)', () => {
  it('is the expiry of the grant that takes merit under the threshold', () => {
    // 10 × 5 Dharma at T0 … T0+9 ms: 50, volunteer; the first grant's expiry takes it to 45.
    const entries = Array.from({ length: 10 }, (_, i) => grant('DharmaPoints', 5, T0 + i));
    expect(nextRoleChangeAt(cfg, entries, T0 + 10)).toBe(T0 + 365 * DAY_MS);
    expect(roleAt(entries, T0 + 365 * DAY_MS - 1)).toBe('volunteer');
    expect(roleAt(entries, T0 + 365 * DAY_MS)).toBe('learner');
    // From then on nothing can move it: merit only falls, and it is a learner already.
    expect(nextRoleChangeAt(cfg, entries, T0 + 365 * DAY_MS)).toBeNull();
  });

  it('finds a gain as a penalty expires, and the day decay takes Seva under a threshold', () => {
    const penalised = [grant('PunyaTokens', 25, T0), grant('DharmaPoints', -40, T0 + DAY_MS)]; // 75 − 40 = 35: learner
    expect(nextRoleChangeAt(cfg, penalised, T0 + DAY_MS)).toBe(T0 + 366 * DAY_MS); // the penalty expires: volunteer
    // 42 Seva = 50.4 merit: volunteer until (1 − 0.0005)^d · 50.4 < 50, i.e. the 17th whole day.
    const seva = [grant('SevaPoints', 42, T0)];
    const days = Math.ceil(Math.log(50 / 50.4) / Math.log(1 - 0.0005));
    expect(nextRoleChangeAt(cfg, seva, T0)).toBe(T0 + days * DAY_MS);
    expect(roleAt(seva, T0 + days * DAY_MS - 1)).toBe('volunteer');
    expect(roleAt(seva, T0 + days * DAY_MS)).toBe('learner');
  });

  it('is null when nothing can cross a threshold, and counts an entry recorded after `from` from its own time', () => {
    expect(nextRoleChangeAt(cfg, [], T0)).toBeNull();
    expect(nextRoleChangeAt(cfg, [grant('DharmaPoints', 20, T0)], T0)).toBeNull(); // a learner whose merit only falls
    const later = [grant('PunyaTokens', 25, T0 + 5 * DAY_MS)];
    expect(nextRoleChangeAt(cfg, later, T0)).toBe(T0 + 5 * DAY_MS);
  });

  it('after its step budget answers an earlier moment, never a later one', () => {
    const seva = [grant('SevaPoints', 42, T0)];
    const early = nextRoleChangeAt(cfg, seva, T0, 3);
    expect(early).toBe(T0 + 4 * DAY_MS); // three day steps visited, the fourth is where to look again
    expect(roleAt(seva, T0 + 4 * DAY_MS)).toBe('volunteer');
    expect(nextRoleChangeAt(cfg, seva, early as number)).toBe(nextRoleChangeAt(cfg, seva, T0));
  });

  it('equals the brute-force answer for any ledger (decaying, expiring, negative and future entries)', () => {
    const entry = fc.record({
      token: fc.constantFrom('DharmaPoints', 'SevaPoints', 'PunyaTokens'),
      amount: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: -100, max: -1 }), fc.double({ min: -50, max: 80, noNaN: true })),
      at: fc.integer({ min: 0, max: 500 * DAY_MS }),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), fc.integer({ min: 0, max: 900 * DAY_MS }), (list, fromOffset) => {
        const entries = list.map((e) => grant(e.token, e.amount, T0 + e.at)).sort((a, b) => a.seq - b.seq);
        const from = T0 + fromOffset;
        const expected = bruteForce(entries, from);
        expect(nextRoleChangeAt(cfg, entries, from)).toBe(expected);
        // With a tiny budget: never later than the change, and the role holds until the answer.
        const early = nextRoleChangeAt(cfg, entries, from, 2);
        if (expected !== null) expect(early).not.toBeNull();
        if (early !== null) {
          expect(early).toBeGreaterThan(from);
          if (expected !== null) expect(early).toBeLessThanOrEqual(expected);
          expect(roleAt(entries, early - 1)).toBe(roleAt(entries, from));
        }
      }),
      { numRuns: 300 },
    );
  });
});
