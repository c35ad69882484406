// A run start sent without an answer (the executor timed out or answered 5xx) may still be at the executor, or on its
// way there. When its attempts run out, Core asks the executor before it ends the run request, so GET /runs lists
// such a run once and an accepted start is never called refused while it may be running; and a cancel does not
// withdraw it, so Core never says "cancelled before the executor received it" of a run that may be running.
import { EXECUTOR_RUN_STARTS_ROUTE, type WorkflowCatalog } from '@pancha/contracts';
import { type Deferred, deferred, poll, type RecordedRequest } from '@pancha/testing';
import { parseManifest } from '@pancha/workflow-manifest';
import request from 'supertest';
import { type CoreTestApp, startCoreTestApp } from '../testing/core-test-app';
import { StandInServer } from '../testing/stand-in-server';

jest.setTimeout(60_000);

const ONBOARD = parseManifest(`
name: onboard
version: 1.0.0
inputs: { type: object, required: [email], properties: { email: { type: string } } }
security: { actions: [task] }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest!;

const CATALOG: WorkflowCatalog = {
  revision: 'r1',
  workflows: [
    {
      name: 'onboard',
      enabled: true,
      default_version: '1.0.0',
      versions: [{ version: '1.0.0', present: true, deprecated: false, retired: false, manifest: ONBOARD as unknown as Record<string, unknown> }],
    },
  ],
};

/** What the stand-in executor says of a run when Core asks for it (GET /api/runs/:id), by the email it was started with. */
type Knows = 'has' | 'missing' | 'down';
const knows = new Map<string, Knows>();
/** Emails whose start the executor takes (202); every other start is answered 503. */
const takes = new Set<string>();
const runs = new Map<string, { email: string; created_at: string }>();

/** Starts (by email) the stand-in holds unanswered, as an executor still storing them, until the deferred settles. */
const startsHeld = new Map<string, Deferred>();
/** While set, the stand-in executor answers no signal or cancel until it settles (Core's call times out first). */
let controlsHeld: Deferred | undefined;

function answer(req: RecordedRequest): { status: number; body: unknown } | Promise<{ status: number; body: unknown }> {
  if (req.path === '/api/workflows/catalog') return { status: 200, body: CATALOG };
  if (req.method === 'POST' && /^\/api\/runs\/[^/]+\/(signals\/[^/]+|cancel)$/.test(req.path) && controlsHeld) {
    return controlsHeld.promise.then(() => ({ status: 202, body: { signal_id: 's', run: { run_id: 'r', status: 'running' } } }));
  }
  if (req.method === 'POST' && req.path === '/api/runs') {
    const start = req.body as { run_id: string; inputs: { email: string } };
    if (startsHeld.has(start.inputs.email)) return startsHeld.get(start.inputs.email)!.promise.then(() => answer(req));
    runs.set(start.run_id, { email: start.inputs.email, created_at: new Date().toISOString() });
    return takes.has(start.inputs.email) ? { status: 202, body: { run_id: start.run_id, status: 'pending' } } : { status: 503, body: { code: 'unavailable' } };
  }
  const one = /^\/api\/runs\/([^/]+)$/.exec(req.path);
  if (req.method === 'GET' && one) {
    const run = runs.get(one[1]);
    const state = run ? knows.get(run.email) : undefined;
    if (state === 'down') return { status: 503, body: { code: 'unavailable' } };
    if (state !== 'has' || !run) return { status: 404, body: { code: 'run_not_found', message: 'no such run' } };
    return { status: 200, body: summary(one[1], run.created_at) };
  }
  if (req.method === 'GET' && req.path === '/api/runs') {
    const held = [...runs].filter(([, run]) => knows.get(run.email) === 'has').map(([id, run]) => summary(id, run.created_at));
    return { status: 200, body: { runs: held.reverse(), next_cursor: null } };
  }
  return { status: 404, body: { code: 'not_found' } };
}

function summary(runId: string, createdAt: string) {
  return { run_id: runId, workflow: 'onboard', version: '1.0.0', status: 'running', user_id: 'u1', product: null, trace_id: 't', created_at: createdAt, updated_at: createdAt };
}

/** Core booted against the stand-in executor with the given outbox settings (its relay's attempts and backoff). */
function coreWith(name: string, outbox: Record<string, string>) {
  const executor = new StandInServer(answer).speaksBatch(EXECUTOR_RUN_STARTS_ROUTE, '/api/runs');
  const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));
  const spec = { core: undefined as unknown as CoreTestApp, executor };
  const saved = { ...process.env };
  beforeAll(async () => {
    Object.assign(process.env, { OUTBOX_POLL_INTERVAL_MS: '50', WORKFLOW_CATALOG_REFRESH_MS: '100', ...outbox });
    spec.core = await startCoreTestApp({ name, executor, bucket });
  });
  afterAll(async () => {
    process.env = saved;
    await spec.core?.close();
  });
  return spec;
}

function helpers(spec: { core: CoreTestApp }) {
  const as = async (method: 'get' | 'post', path: string, body?: object) => {
    const req = request(spec.core.app.getHttpServer())[method](path).set('authorization', `Bearer ${await spec.core.pranaToken()}`);
    return body ? req.send(body) : req;
  };
  return {
    as,
    async start(email: string): Promise<string> {
      const res = await as('post', '/workflows/onboard/runs', { user_id: 'u1', inputs: { email } });
      expect(res.status).toBe(202);
      return res.body.run_id as string;
    },
    row: async (runId: string): Promise<{ delivery: string; reason: string | null }> =>
      (await spec.core.dataSource.query(`SELECT delivery, reason FROM workflow_run_requests WHERE run_id = $1`, [runId]))[0],
    deadLetters: async (runId: string): Promise<number> =>
      Number((await spec.core.dataSource.query(`SELECT count(*) AS n FROM outbox_dead_letter WHERE message_key = $1`, [runId]))[0].n),
    outboxRows: (runId: string): Promise<{ topic: string; status: string; attempts: number; last_error: string | null }[]> =>
      spec.core.dataSource.query(`SELECT topic, status, attempts, last_error FROM outbox WHERE message_key = $1 ORDER BY topic DESC`, [runId]),
  };
}

describe('core: a start whose attempts ran out', () => {
  const spec = coreWith('core-start-dead', { OUTBOX_MAX_ATTEMPTS: '2', OUTBOX_BASE_DELAY_MS: '50', OUTBOX_MAX_DELAY_MS: '100' });
  const { as, start, row, deadLetters, outboxRows } = helpers(spec);

  it('a run the executor has is delivered, and GET /runs lists it once', async () => {
    knows.set('has@b.co', 'has');
    const runId = await start('has@b.co');
    await poll('the start dead-lettered', async () => ((await deadLetters(runId)) > 0 ? true : undefined));
    expect(await row(runId)).toEqual({ delivery: 'delivered', reason: null });
    const list = await as('get', '/runs');
    expect(list.status).toBe(200);
    expect(list.body.runs.filter((r: { run_id: string }) => r.run_id === runId)).toHaveLength(1);
    const view = await as('get', `/runs/${runId}`);
    expect(view.body).toMatchObject({ run_id: runId, status: 'running' });
  });

  it('a run the executor does not have is refused, with the last error', async () => {
    knows.set('missing@b.co', 'missing');
    const runId = await start('missing@b.co');
    const ended = await poll('the start refused', async () => {
      const r = await row(runId);
      return r.delivery === 'refused' ? r : undefined;
    });
    expect(ended.reason).toMatch(/^max_attempts_exceeded: .*503/);
    expect(await deadLetters(runId)).toBe(1);
    const view = await as('get', `/runs/${runId}`);
    expect(view.body).toMatchObject({ run_id: runId, status: 'failed', delivery: 'refused', error: { code: 'start_refused' } });
  });

  it('while the executor cannot say, the start stays queued and is tried again until it lands', async () => {
    knows.set('down@b.co', 'down');
    const runId = await start('down@b.co');
    const pending = await poll('the dead letter put off', async () => {
      const [entry] = await outboxRows(runId);
      return entry?.last_error?.startsWith('on_dead_letter_failed') ? entry : undefined;
    });
    expect(pending.status).toBe('pending');
    expect(await row(runId)).toEqual({ delivery: 'queued', reason: null });
    expect(await deadLetters(runId)).toBe(0);
    takes.add('down@b.co');
    await poll('the start delivered', async () => ((await row(runId)).delivery === 'delivered' ? true : undefined));
    expect(await deadLetters(runId)).toBe(0);
  });
});

describe('core: a cancel for a start sent without an answer', () => {
  // The relay waits a long backoff after a failed attempt, so the start sits pending, unleased, with one attempt.
  const spec = coreWith('core-start-cancel', { OUTBOX_BASE_DELAY_MS: '600000', OUTBOX_MAX_DELAY_MS: '600000' });
  const { as, start, row, outboxRows } = helpers(spec);

  it('does not withdraw it: the cancel follows the start as a message, and Core does not call the run cancelled', async () => {
    const runId = await start('timed-out@b.co');
    await poll('one attempt made', async () => ((await outboxRows(runId))[0]?.attempts === 1 ? true : undefined));
    const res = await as('post', `/runs/${runId}/cancel`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ run_id: runId, status: 'pending', delivery: 'queued' });
    expect(await row(runId)).toEqual({ delivery: 'queued', reason: null });
    expect((await outboxRows(runId)).map((r) => [r.topic, r.status])).toEqual([
      ['workflow-executor.run-start', 'pending'],
      ['workflow-executor.run-cancel', 'pending'],
    ]);
  });

  it('counts a send before it is made, so a send whose outcome is lost (a crash mid-call) still keeps the start', async () => {
    const held = deferred();
    startsHeld.set('crash@b.co', held);
    try {
      const runId = await start('crash@b.co');
      // The send is out and unanswered: already counted.
      await poll('the send counted', async () => {
        const [counts] = await spec.core.dataSource.query(`SELECT start_sends, start_refusals FROM workflow_run_requests WHERE run_id = $1`, [runId]);
        return counts?.start_sends === 1 ? counts : undefined;
      });
      // As if the Core that sent it died there: its lease lapsed, nothing settled, no attempt recorded.
      await spec.core.dataSource.query(`UPDATE outbox SET lease_token = NULL, locked_until = NULL, next_attempt_at = now() + interval '1 hour' WHERE message_key = $1`, [runId]);
      const res = await as('post', `/runs/${runId}/cancel`);
      expect([res.status, res.body.status, res.body.delivery]).toEqual([202, 'pending', 'queued']);
      expect((await outboxRows(runId)).map((r) => r.topic)).toEqual(['workflow-executor.run-start', 'workflow-executor.run-cancel']);
    } finally {
      startsHeld.delete('crash@b.co');
      held.resolve();
    }
  });

  it('withdraws one whose attempts all found the executor down (connection refused): it never reached it', async () => {
    await spec.executor.stop();
    try {
      const runId = await start('refused-conn@b.co');
      await poll('one attempt made', async () => ((await outboxRows(runId))[0]?.attempts === 1 ? true : undefined));
      const res = await as('post', `/runs/${runId}/cancel`);
      expect([res.status, res.body.status, res.body.delivery]).toEqual([202, 'cancelled', 'cancelled']);
      expect(await outboxRows(runId)).toEqual([]);
    } finally {
      await spec.executor.start();
    }
  });

});

describe('core: a signal or cancel the executor does not answer in time', () => {
  const spec = coreWith('core-control-timeout', { WORKFLOW_TIMEOUT: '0.3' });
  const { as } = helpers(spec);
  const runId = '5f0c2a9e-8b1d-4c3e-9a7f-1e2d3c4b5a69';

  beforeEach(() => {
    controlsHeld = deferred();
  });
  afterEach(() => controlsHeld?.resolve());

  it('is a 504 executor_timeout saying the change may have been made, not a 503 "try again"', async () => {
    const signal = await as('post', `/runs/${runId}/signals/approve`, { payload: { ok: true } });
    expect(signal.status).toBe(504);
    expect(signal.body).toMatchObject({ code: 'executor_timeout', message: expect.stringMatching(/the signal may have been made: read the run before asking again/) });
    const cancel = await as('post', `/runs/${runId}/cancel`);
    expect([cancel.status, cancel.body.code]).toEqual([504, 'executor_timeout']);
    expect(cancel.body.message).toMatch(/the cancel may have been made/);
  });

  it('with an Idempotency-Key, passes the key on and says a repeat is safe; a malformed key is a 422 naming it', async () => {
    const key = 'b7c1e0d2-approve-1';
    const req = request(spec.core.app.getHttpServer())
      .post(`/runs/${runId}/signals/approve`)
      .set('authorization', `Bearer ${await spec.core.pranaToken()}`)
      .set('idempotency-key', key);
    const res = await req.send({ payload: { ok: true } });
    expect([res.status, res.body.code]).toEqual([504, 'executor_timeout']);
    expect(res.body.message).toMatch(/sending it again with the same Idempotency-Key is safe/);
    const sent = spec.executor.requests.filter((r) => r.path === `/api/runs/${runId}/signals/approve`).at(-1);
    expect(sent?.body).toMatchObject({ payload: { ok: true }, idempotency_key: key });

    const bad = await request(spec.core.app.getHttpServer())
      .post(`/runs/${runId}/signals/approve`)
      .set('authorization', `Bearer ${await spec.core.pranaToken()}`)
      .set('idempotency-key', 'not ok')
      .send({ payload: {} });
    expect([bad.status, bad.body.errors?.[0]?.field]).toEqual([422, 'Idempotency-Key']);
  });
});

describe('core: a start whose last attempt timed out', () => {
  const spec = coreWith('core-start-slow', { OUTBOX_MAX_ATTEMPTS: '1', OUTBOX_BASE_DELAY_MS: '50', OUTBOX_MAX_DELAY_MS: '100', WORKFLOW_TIMEOUT: '0.3' });
  const { start, row, deadLetters, outboxRows } = helpers(spec);

  it('is not refused on the executor\'s "no such run" (it may still be storing that request): sent again until it lands', async () => {
    const held = deferred();
    startsHeld.set('slow@b.co', held);
    knows.set('slow@b.co', 'missing');
    try {
      const runId = await start('slow@b.co');
      await poll('the dead letter put off', async () => {
        const [entry] = await outboxRows(runId);
        return entry?.last_error?.startsWith('on_dead_letter_failed') ? entry : undefined;
      });
      expect(await row(runId)).toEqual({ delivery: 'queued', reason: null });
      expect(await deadLetters(runId)).toBe(0);
      takes.add('slow@b.co');
      startsHeld.delete('slow@b.co');
      held.resolve();
      await poll('the start delivered', async () => ((await row(runId)).delivery === 'delivered' ? true : undefined));
      expect(await deadLetters(runId)).toBe(0);
    } finally {
      startsHeld.delete('slow@b.co');
      held.resolve();
    }
  });
});
