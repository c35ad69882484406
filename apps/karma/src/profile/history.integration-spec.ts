import { RequesterId, type KarmaHistory, type KarmaLedgerHead } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import request from 'supertest';
import { FixedClock } from '../clock/clock';
import { DAY_MS, HOUR_MS } from '../model/ledger-entry';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(240_000);

const T0 = Date.parse('2025-06-01T00:00:00.000Z');

describe('GET /v1/karma/:user_id/history (real PostgreSQL)', () => {
  let karma: ServiceWithDatabase;
  const clock = new FixedClock(T0);

  const token = (who: RequesterId = RequesterId.Core) => karma.keys.mint(who, 'karma');
  const http = () => request(karma.url);
  const get = async (url: string) => http().get(url).set('authorization', `Bearer ${await token()}`);
  const life = async (user_id: string, action: string) => {
    const res = await http().post('/v1/event/').set('authorization', `Bearer ${await token()}`).send({ type: 'life_event', data: { user_id, action }, source: 'test' });
    expect(res.status).toBe(200);
  };

  beforeAll(async () => {
    karma = await bootKarma({ database: 'karma_history', clock });
    // Day 1, 10:00: a lesson (5 Dharma × 1) and help (10 Seva × 1.2). Day 1, 14:00: a broken promise (minor paap, weight 1).
    clock.set(T0 + 10 * HOUR_MS);
    await life('hist-user', 'completing_lessons');
    await life('hist-user', 'helping_peers');
    clock.set(T0 + 14 * HOUR_MS);
    await life('hist-user', 'break_promise');
    // Day 3, 09:00: another lesson. Someone else's entries never show.
    clock.set(T0 + 2 * DAY_MS + 9 * HOUR_MS);
    await life('hist-user', 'completing_lessons');
    await life('other-user', 'selfless_service');
    clock.set(T0 + 4 * DAY_MS);
  });

  afterAll(() => karma?.close());

  it('sums merit, paap and net per day, with empty days as zeros and a running net', async () => {
    const res = await get(`/v1/karma/hist-user/history?bucket=day&since=2025-06-01T00:00:00Z&until=2025-06-04T00:00:00Z`);
    expect(res.status).toBe(200);
    const body = res.body as KarmaHistory;
    expect(body).toMatchObject({ user_id: 'hist-user', bucket: 'day', since: '2025-06-01T00:00:00.000Z', until: '2025-06-04T00:00:00.000Z' });
    expect(body.points.map((p) => p.at)).toEqual(['2025-06-01T00:00:00.000Z', '2025-06-02T00:00:00.000Z', '2025-06-03T00:00:00.000Z', '2025-06-04T00:00:00.000Z']);
    expect(body.points.map((p) => [p.merit, p.paap, p.net, p.net_cumulative])).toEqual([
      [17, 1, 16, 16],
      [0, 0, 0, 16],
      [5, 0, 5, 21],
      [0, 0, 0, 21],
    ]);
    expect(body.points[0].entries).toBeGreaterThanOrEqual(3);
    expect(body.entries).toBe(body.points.reduce((n, p) => n + p.entries, 0));
  });

  it('GET /v1/karma/:user_id/head: the user’s entry count and newest seq, moving only with that user’s entries; an unknown user is empty, not 404', async () => {
    const before = (await get('/v1/karma/head-user/head')).body as KarmaLedgerHead;
    expect(before).toEqual({ user_id: 'head-user', entries: 0, last_seq: null, last_at: null });
    await life('head-user', 'completing_lessons');
    const one = (await get('/v1/karma/head-user/head')).body as KarmaLedgerHead;
    expect(one.entries).toBeGreaterThan(0);
    expect(one.last_seq).toMatch(/^\d+$/);
    expect(one.last_at).toBe(new Date(clock.now().getTime()).toISOString());
    await life('other-user', 'helping_peers');
    expect((await get('/v1/karma/head-user/head')).body).toEqual(one);
    await life('head-user', 'helping_peers');
    const two = (await get('/v1/karma/head-user/head')).body as KarmaLedgerHead;
    expect(two.entries).toBeGreaterThan(one.entries);
    expect(BigInt(two.last_seq!)).toBeGreaterThan(BigInt(one.last_seq!));
    const noToken = await http().get('/v1/karma/head-user/head');
    expect(noToken.status).toBe(401);
  });

  it('by hour, the entries fall into their own hours', async () => {
    const res = await get(`/v1/karma/hist-user/history?bucket=hour&since=2025-06-01T09:30:00Z&until=2025-06-01T15:00:00Z`);
    expect(res.status).toBe(200);
    const body = res.body as KarmaHistory;
    // since is rounded down to its bucket: 09:00 … 15:00
    expect(body.points).toHaveLength(7);
    const byHour = Object.fromEntries(body.points.map((p) => [p.at.slice(11, 13), p.net]));
    expect(byHour).toEqual({ '09': 0, '10': 17, '11': 0, '12': 0, '13': 0, '14': -1, '15': 0 });
  });

  it('defaults to the last 30 days by day, and a user without entries gets zeros, not an error', async () => {
    const res = await get('/v1/karma/hist-user/history');
    expect(res.status).toBe(200);
    expect(res.body.bucket).toBe('day');
    expect(res.body.points).toHaveLength(31);
    expect(res.body.points.at(-1).net_cumulative).toBe(21);
    const none = await get('/v1/karma/nobody/history');
    expect(none.status).toBe(200);
    expect(none.body.entries).toBe(0);
  });

  it.each([
    ['bucket=week', 'bucket'],
    ['since=yesterday', 'since'],
    ['until=2025-13-45', 'until'],
    // PostgreSQL has no year 0 (a 500 before), and Date reads 30 February as 2 March (silently shifted before).
    ['since=0000-01-01&until=2026-01-05', 'since'],
    ['since=2026-02-30&until=2026-03-05', 'since'],
    ['since=2025-06-03T00:00:00Z&until=2025-06-01T00:00:00Z', 'since'],
    ['bucket=hour&since=2020-01-01T00:00:00Z&until=2025-01-01T00:00:00Z', 'since'],
  ])('?%s is a 422 naming %s', async (qs, field) => {
    const res = await get(`/v1/karma/hist-user/history?${qs}`);
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
  });

  it('counts the buckets the answer holds, since\'s through until\'s: 1000 are answered, a 1001st is a 422 even within 1000 days', async () => {
    const most = await get('/v1/karma/hist-user/history?bucket=day&since=2026-01-01T23:00:00Z&until=2028-09-26T23:00:00Z');
    expect(most.status).toBe(200);
    expect(most.body.points).toHaveLength(1000);
    // Exactly 1000 days, over 1001 calendar days (2026-01-01 … 2028-09-27).
    const over = await get('/v1/karma/hist-user/history?bucket=day&since=2026-01-01T23:00:00Z&until=2028-09-27T23:00:00Z');
    expect([over.status, over.body.code, over.body.errors?.map((e: { field: string }) => e.field)]).toEqual([422, 'validation_failed', ['since']]);
    const hours = await get('/v1/karma/hist-user/history?bucket=hour&since=2025-06-01T00:30:00Z&until=2025-07-12T16:30:00Z');
    expect([hours.status, hours.body.code]).toEqual([422, 'validation_failed']);
  });

  it('is governed like the other reads: no token, no history', async () => {
    expect((await http().get('/v1/karma/hist-user/history')).status).toBe(401);
  });
});
