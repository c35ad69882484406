// Clients of the original Karma service keep working: the original workflow executor's life_event, byte for
// byte as its karma_client sends it (SPEC §2), is accepted over HTTP against a real PostgreSQL.
import { RequesterId } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(60_000);

/** What Python's `datetime.now(timezone.utc).isoformat()` writes: microseconds and a +00:00 offset. */
function pythonUtcNow(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1456+00:00');
}

/**
 * The original executor's event (workflow-executor-main/integration/karma_client.py): action
 * `workflow_${status}` (so workflow_failed), role "user", a note, the context as an object carrying its own
 * source and the execution result, a timestamp and a top-level source.
 */
function originalLifeEvent(userId: string, status: 'success' | 'failed', actionType = 'task') {
  const traceId = randomUUID();
  const result = status === 'success'
    ? { success: true, task_id: randomUUID(), task_status: 'CREATED', reference: `TASK-${traceId.slice(0, 8)}` }
    : { success: false, error_code: 'missing_task_title', message: 'payload.title is required for action_type "task"' };
  return {
    type: 'life_event',
    data: {
      user_id: userId,
      action: `workflow_${status}`,
      role: 'user',
      note: `Workflow execution: ${actionType}`,
      context: { trace_id: traceId, action_type: actionType, status, source: 'workflow_executor', result },
    },
    timestamp: pythonUtcNow(),
    source: 'workflow_executor',
  };
}

describe('karma: the original contract (HTTP, real PostgreSQL)', () => {
  let karma: ServiceWithDatabase;

  /** A token minted for this one request (tokens live 60 s; a replay-checking receiver refuses a reused jti on writes). */
  const tokenOf = (who: RequesterId) => karma.keys.mint(who, 'karma');
  const post = async (body: unknown, who: RequesterId) =>
    request(karma.url).post('/v1/event/').set('authorization', `Bearer ${await tokenOf(who)}`).send(body as object);
  const ledgerOf = async (userId: string) =>
    (await karma.dataSource.query('SELECT action, amount, details FROM karma_ledger WHERE user_id = $1 ORDER BY seq', [userId])) as {
      action: string;
      amount: number;
      details: Record<string, unknown>;
    }[];

  beforeAll(async () => {
    karma = await bootKarma({ database: 'karma_original' });
  });

  afterAll(() => karma?.close());

  it('accepts the original executor\'s workflow_success: role "user" recorded as a claim, note, object context and source kept', async () => {
    const body = originalLifeEvent('orig-1', 'success');
    const res = await post(body, RequesterId.WorkflowExecutor);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'success',
      event_type: 'life_event',
      routing_info: { handler: 'life_event', ledger_entries: 1, q_update: true },
      data: { user_id: 'orig-1', action: 'workflow_success', grant: { token: 'DharmaPoints', amount: 2 }, role_before: 'learner', role_after: 'learner' },
    });
    expect(await ledgerOf('orig-1')).toEqual([
      {
        action: 'workflow_success',
        amount: 2,
        details: { role_claimed: 'user', note: body.data.note, context: body.data.context, source: 'workflow_executor' },
      },
    ]);
    const [event] = await karma.dataSource.query('SELECT source, occurred_at FROM karma_event WHERE user_id = $1', ['orig-1']);
    expect(event.source).toBe('workflow_executor');
    expect(new Date(event.occurred_at).getTime()).toBe(Date.parse(body.timestamp));
  });

  it('takes the original workflow_failed as workflow_failure, and lets the executor report it', async () => {
    const res = await post(originalLifeEvent('orig-2', 'failed'), RequesterId.WorkflowExecutor);
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ action: 'workflow_failure', q_update: { action: 'workflow_failure' } });
    expect(await ledgerOf('orig-2')).toEqual([
      expect.objectContaining({ action: 'workflow_failure', details: expect.objectContaining({ action_alias: 'workflow_failed', role_claimed: 'user' }) }),
    ]);
  });

  it('never scores with a claimed role: a "guru" claim earns what an unclaimed learner earns', async () => {
    const claimed = await post({ type: 'life_event', data: { user_id: 'orig-3', action: 'helping_peers', role: 'guru' } }, RequesterId.Core);
    const plain = await post({ type: 'life_event', data: { user_id: 'orig-4', action: 'helping_peers' } }, RequesterId.Core);
    expect(claimed.status).toBe(200);
    expect(plain.status).toBe(200);
    for (const key of ['grant', 'merit_after', 'role_before', 'role_after'] as const) expect(claimed.body.data[key]).toEqual(plain.body.data[key]);
    expect(claimed.body.data.q_update).toMatchObject({ role: 'learner', action: 'helping_peers', reward: 12 });
    const profile = await request(karma.url).get('/api/v1/karma/orig-3').set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`);
    expect(profile.body.role).toBe('learner');
  });

  it('answers data.role: null and timestamp: null (a Python client\'s None) as not given, never 500', async () => {
    const role = await post({ type: 'life_event', data: { user_id: 'orig-5', action: 'completing_lessons', role: null } }, RequesterId.Core);
    expect(role.status).toBe(200);
    const timestamp = await post({ type: 'life_event', data: { user_id: 'orig-5', action: 'completing_lessons' }, timestamp: null, source: null }, RequesterId.Core);
    expect(timestamp.status).toBe(200);
    expect(timestamp.body.data.occurred_at).toBe(timestamp.body.timestamp);
    const original = originalLifeEvent('orig-5', 'success');
    const both = await post({ ...original, timestamp: null, data: { ...original.data, role: null } }, RequesterId.WorkflowExecutor);
    expect(both.status).toBe(200);
    expect((await ledgerOf('orig-5')).map((e) => e.details.role_claimed)).toEqual([undefined, undefined, undefined]);
  });

  it('still refuses what is wrong: an unknown action is a 422 listing the accepted values, and stores nothing', async () => {
    const res = await post({ ...originalLifeEvent('orig-6', 'success'), data: { ...originalLifeEvent('orig-6', 'success').data, action: 'levitate' } }, RequesterId.WorkflowExecutor);
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'unknown_action', errors: [{ field: 'data.action' }] });
    expect(await ledgerOf('orig-6')).toEqual([]);
  });

  it('a timestamp ISO 8601 allows but no date can be read from (week dates, basic format, hour-only) is a 422 naming it, never a 500', async () => {
    for (const timestamp of ['2024-W01-1', '20240101', '2024-01-01T10Z', '2024-01-01T10:00:00,5Z', '2024-100', '0000-01-01T00:00:00Z', '2024-01-01T10:00+16:00']) {
      const res = await post({ type: 'life_event', data: { user_id: 'orig-7', action: 'completing_lessons' }, timestamp }, RequesterId.Core);
      expect([timestamp, res.status, res.body.errors?.map((e: { field: string }) => e.field)]).toEqual([timestamp, 422, ['timestamp']]);
    }
    expect(await ledgerOf('orig-7')).toEqual([]);
  });

  it('reads a timestamp as the validation did: an ±hh offset, and a time without offset as UTC (never a 500)', async () => {
    for (const [timestamp, occurred] of [
      ['2024-01-01T10:00+05', '2024-01-01T05:00:00.000Z'],
      ['2024-01-01T10:00:00', '2024-01-01T10:00:00.000Z'],
    ]) {
      const res = await post({ type: 'life_event', data: { user_id: 'orig-8', action: 'completing_lessons' }, timestamp }, RequesterId.Core);
      expect([timestamp, res.status, res.body.data?.occurred_at]).toEqual([timestamp, 200, occurred]);
    }
  });
});
