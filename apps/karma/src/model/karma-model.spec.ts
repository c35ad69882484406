import { loadKarmaConfig } from '../config/karma-config';
import {
  balancesAt,
  decideAction,
  foldLedger,
  lokaFor,
  meritAt,
  roleFor,
  tokenValue,
} from './karma-model';
import { DAY_MS, HOUR_MS, LedgerEntry } from './ledger-entry';

// Every expected number below is computed by hand from docs/KARMA.md, not by the code under test.
const cfg = loadKarmaConfig();
const T0 = Date.parse('2025-01-01T00:00:00.000Z');

/** A tiny ledger: records actions through the model exactly as the service does. */
class Ledger {
  readonly entries: LedgerEntry[] = [];
  private n = 0;

  act(userId: string, action: string, at: number) {
    const d = decideAction(cfg, this.of(userId), { eventId: `e${++this.n}`, userId, action, at, occurredAt: at });
    for (const e of d.entries) this.entries.push({ ...e, seq: this.entries.length + 1 });
    return d;
  }

  atone(userId: string, paapSeq: number, kind: string, amount: number, at: number): void {
    this.entries.push({
      seq: this.entries.length + 1, eventId: `e${++this.n}`, userId, kind: 'atonement', action: null, token: kind, amount,
      paapClass: null, refSeq: paapSeq, details: {}, at, occurredAt: at,
    });
  }

  of(userId: string): LedgerEntry[] {
    return this.entries.filter((e) => e.userId === userId);
  }
}

describe('Karma model (KARMA.md numbers)', () => {
  describe('base rewards', () => {
    it.each([
      ['completing_lessons', 'DharmaPoints', 5, 5],
      ['helping_peers', 'SevaPoints', 10, 12],
      ['solving_doubts', 'SevaPoints', 8, 9.6],
      ['selfless_service', 'PunyaTokens', 25, 75],
    ])('%s grants %s %d (merit %d)', (action, token, amount, merit) => {
      const l = new Ledger();
      const d = l.act('u', action, T0);
      expect(d.grant).toEqual({ token, amount });
      expect(balancesAt(cfg, l.entries, T0)[token]).toBe(amount);
      expect(meritAt(cfg, l.entries, T0)).toBeCloseTo(merit, 12);
      expect(d.reward).toBeCloseTo(merit, 12);
    });
  });

  describe('cheat', () => {
    it('costs 2, 5, 10, 20, 40, then 100 DharmaPoints by the cheats in the last 30 days, each with a medium paap', () => {
      const l = new Ledger();
      const penalties = [1, 2, 3, 4, 5, 6, 7].map((i) => l.act('u', 'cheat', T0 + i * DAY_MS).grant?.amount);
      expect(penalties).toEqual([-2, -5, -10, -20, -40, -100, -100]);
      const fold = foldLedger(cfg, l.entries, T0 + 7 * DAY_MS);
      expect(fold.balances.DharmaPoints).toBe(-277);
      expect(fold.paap).toEqual({ minor: 0, medium: 7, maha: 0 });
      expect(fold.netKarma).toBeCloseTo(-277 - 7 * 2.5, 12);
      expect(fold.penaltyCounts.cheat).toBe(7);
    });

    it('counts a cheat exactly 30 days old no more, one a millisecond younger still', () => {
      const a = new Ledger();
      a.act('u', 'cheat', T0);
      expect(a.act('u', 'cheat', T0 + 30 * DAY_MS).grant?.amount).toBe(-2);

      const b = new Ledger();
      b.act('u', 'cheat', T0);
      expect(b.act('u', 'cheat', T0 + 30 * DAY_MS - 1).grant?.amount).toBe(-5);
      expect(foldLedger(cfg, b.entries, T0 + 30 * DAY_MS).penaltyCounts.cheat).toBe(1);
    });

    it('counts cheats per user', () => {
      const l = new Ledger();
      l.act('a', 'cheat', T0);
      expect(l.act('b', 'cheat', T0 + 1).grant?.amount).toBe(-2);
    });
  });

  describe('merit and net karma', () => {
    it('merit = Dharma + 1.2 Seva + 3 Punya; net karma = merit − (minor 1 + medium 2.5 + maha 5)', () => {
      const l = new Ledger();
      for (const a of ['completing_lessons', 'helping_peers', 'selfless_service', 'break_promise', 'disrespect_guru', 'violence']) {
        l.act('u', a, T0);
      }
      const fold = foldLedger(cfg, l.entries, T0);
      expect(fold.merit).toBeCloseTo(5 + 12 + 75, 12);
      expect(fold.paap).toEqual({ minor: 1, medium: 1, maha: 1 });
      expect(fold.paapWeighted).toBe(8.5);
      expect(fold.netKarma).toBeCloseTo(92 - 8.5, 12);
      expect(fold.role).toBe('volunteer');
    });

    it('paap actions change no token and no merit', () => {
      const l = new Ledger();
      const d = l.act('u', 'theft', T0);
      expect(d.grant).toBeNull();
      expect(d.reward).toBe(0);
      expect(l.entries.map((e) => e.kind)).toEqual(['action', 'paap']);
    });
  });

  describe('roles', () => {
    it.each([
      [-10, 'learner'], [0, 'learner'], [49.999, 'learner'], [50, 'volunteer'], [199.999, 'volunteer'],
      [200, 'seva'], [499.999, 'seva'], [500, 'guru'], [10_000, 'guru'],
    ])('merit %d → %s', (merit, role) => {
      expect(roleFor(cfg, merit)).toBe(role);
    });
  });

  describe('decay and expiry', () => {
    const seva = { token: 'SevaPoints', amount: 10, at: T0 };
    const punya = { token: 'PunyaTokens', amount: 25, at: T0 };
    const dharma = { token: 'DharmaPoints', amount: 5, at: T0 };

    it.each([
      [1, 9.995],
      [100, 9.512175302423342],
      [400, 0],
    ])('10 SevaPoints after %d days: %d', (days, value) => {
      expect(tokenValue(cfg, seva, T0 + days * DAY_MS)).toBeCloseTo(value, 9);
    });

    it.each([
      [1, 24.9975],
      [100, 24.751233467284298],
      [400, 24.019687936181402],
      [729, 23.242260145083105],
      [730, 0],
    ])('25 PunyaTokens after %d days: %d', (days, value) => {
      expect(tokenValue(cfg, punya, T0 + days * DAY_MS)).toBeCloseTo(value, 9);
    });

    it('decays by whole days', () => {
      expect(tokenValue(cfg, seva, T0 + DAY_MS - 1)).toBe(10);
      expect(tokenValue(cfg, seva, T0 + 1.5 * DAY_MS)).toBeCloseTo(9.995, 12);
    });

    it('DharmaPoints do not decay and expire after 365 days', () => {
      expect(tokenValue(cfg, dharma, T0 + 364 * DAY_MS)).toBe(5);
      expect(tokenValue(cfg, dharma, T0 + 365 * DAY_MS - 1)).toBe(5);
      expect(tokenValue(cfg, dharma, T0 + 365 * DAY_MS)).toBe(0);
    });

    it('SevaPoints expire after 365 days', () => {
      expect(tokenValue(cfg, seva, T0 + 364 * DAY_MS)).toBeCloseTo(10 * Math.pow(0.9995, 364), 12);
      expect(tokenValue(cfg, seva, T0 + 365 * DAY_MS)).toBe(0);
    });

    it('paap expires after 180 / 365 / 730 days and stops weighing on net karma', () => {
      const l = new Ledger();
      l.act('u', 'false_speech', T0);
      l.act('u', 'theft', T0);
      l.act('u', 'harm_others', T0);
      expect(foldLedger(cfg, l.entries, T0 + 179 * DAY_MS).netKarma).toBe(-8.5);
      expect(foldLedger(cfg, l.entries, T0 + 180 * DAY_MS).netKarma).toBe(-7.5);
      expect(foldLedger(cfg, l.entries, T0 + 365 * DAY_MS).netKarma).toBe(-5);
      expect(foldLedger(cfg, l.entries, T0 + 730 * DAY_MS).netKarma).toBe(0);
    });

    it('a cheat penalty expires with the DharmaPoints it took', () => {
      const l = new Ledger();
      l.act('u', 'cheat', T0);
      expect(balancesAt(cfg, l.entries, T0 + 364 * DAY_MS).DharmaPoints).toBe(-2);
      expect(balancesAt(cfg, l.entries, T0 + 365 * DAY_MS).DharmaPoints).toBe(0);
    });
  });

  describe('loka', () => {
    it.each([
      [10_000, 'Swarga'], [500, 'Swarga'], [499.99, 'Mrityuloka'], [0, 'Mrityuloka'], [-0.01, 'Antarloka'],
      [-1, 'Antarloka'], [-200, 'Antarloka'], [-200.01, 'Naraka'], [-201, 'Naraka'], [-1e6, 'Naraka'],
    ])('net karma %d → %s', (net, loka) => {
      expect(lokaFor(cfg, net)).toBe(loka);
    });
  });

  describe('atonement', () => {
    function withMinorPaap(): { l: Ledger; paapSeq: number } {
      const l = new Ledger();
      l.act('u', 'completing_lessons', T0);
      l.act('u', 'break_promise', T0);
      const paap = l.entries.find((e) => e.kind === 'paap');
      return { l, paapSeq: paap?.seq ?? -1 };
    }

    it('a plan met in full (Jap 108, Tap 1, Bhakti 1, Daan 10 for minor) atones the entry: net karma rises by 1', () => {
      const { l, paapSeq } = withMinorPaap();
      expect(foldLedger(cfg, l.entries, T0).netKarma).toBe(4);
      l.atone('u', paapSeq, 'Jap', 100, T0 + 1);
      l.atone('u', paapSeq, 'Jap', 8, T0 + 2);
      l.atone('u', paapSeq, 'Tap', 1, T0 + 3);
      l.atone('u', paapSeq, 'Bhakti', 1, T0 + 4);
      expect(foldLedger(cfg, l.entries, T0 + 4).netKarma).toBe(4);
      l.atone('u', paapSeq, 'Daan', 10, T0 + 5);
      const fold = foldLedger(cfg, l.entries, T0 + 5);
      expect(fold.netKarma).toBe(5);
      expect(fold.paap.minor).toBe(0);
      expect(fold.plans).toEqual([]);
      expect(fold.atonedCount).toBe(1);
    });

    it('a plan half met leaves the entry open with its progress', () => {
      const { l, paapSeq } = withMinorPaap();
      l.atone('u', paapSeq, 'Jap', 54, T0 + 1);
      l.atone('u', paapSeq, 'Daan', 5, T0 + 2);
      const fold = foldLedger(cfg, l.entries, T0 + 2);
      expect(fold.netKarma).toBe(4);
      expect(fold.paap.minor).toBe(1);
      expect(fold.plans).toHaveLength(1);
      expect(fold.plans[0].progress).toEqual({ Jap: 54, Tap: 0, Bhakti: 0, Daan: 5 });
      expect(fold.plans[0].required).toEqual({ Jap: 108, Tap: 1, Bhakti: 1, Daan: 10 });
    });

    it('medium and maha plans are the ones of KARMA.md', () => {
      expect(cfg.atonementPlans.medium).toEqual({ Jap: 1008, Tap: 3, Bhakti: 3, Daan: 50 });
      expect(cfg.atonementPlans.maha).toEqual({ Jap: 10008, Tap: 7, Bhakti: 7, Daan: 100 });
    });
  });

  describe('daily caps on telemetry', () => {
    it('grants focus rewards up to 10 DharmaPoints in 24 h, then 0, and again after the window', () => {
      const l = new Ledger();
      const grants = Array.from({ length: 12 }, (_, i) => l.act('u', 'deep_focus', T0 + i * 1000).grant?.amount);
      expect(grants).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
      expect(l.act('u', 'on_task', T0 + 20 * HOUR_MS)).toMatchObject({ grant: { amount: 0 }, capped: true });
      expect(l.act('u', 'deep_focus', T0 + 24 * HOUR_MS + 10_000).grant?.amount).toBe(1);
      expect(balancesAt(cfg, l.entries, T0 + 25 * HOUR_MS).DharmaPoints).toBe(11);
    });

    it('caps a grant partially when less than its amount is left', () => {
      const l = new Ledger();
      for (let i = 0; i < 19; i++) l.act('u', 'on_task', T0 + i);
      expect(l.act('u', 'deep_focus', T0 + 100)).toMatchObject({ grant: { token: 'DharmaPoints', amount: 0.5 }, capped: true });
    });

    it('caps workflow_success at 20 DharmaPoints a day; workflow_failure is recorded at 0', () => {
      const l = new Ledger();
      const grants = Array.from({ length: 11 }, (_, i) => l.act('u', 'workflow_success', T0 + i).grant?.amount);
      expect(grants).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0]);
      expect(l.act('u', 'workflow_failure', T0 + 20).grant).toEqual({ token: 'DharmaPoints', amount: 0 });
    });

    it('does not cap the original actions', () => {
      const l = new Ledger();
      for (let i = 0; i < 50; i++) l.act('u', 'completing_lessons', T0 + i);
      expect(balancesAt(cfg, l.entries, T0 + 100).DharmaPoints).toBe(250);
    });
  });
});
