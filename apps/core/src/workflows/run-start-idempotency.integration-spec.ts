// A client that retries POST /workflows/:name/runs after a timeout must not start the run (and its side effects) twice:
// with an Idempotency-Key, the same requester, key and request get the first answer; another request with the key a 409.
import { randomUUID } from 'node:crypto';
import { RequesterId, type WorkflowCatalog } from '@pancha/contracts';
import { holdTable, poll, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(60_000);

const manifest = (name: string) =>
  parseManifest(`
name: ${name}
version: 1.2.0
inputs: { type: object, required: [email], properties: { email: { type: string } } }
security: { actions: [task] }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest!;
const ONBOARD = manifest('onboard');
const OTHER = manifest('other');
const ONBOARD_1 = { ...ONBOARD, version: '1.1.0' };

const catalog: WorkflowCatalog = {
  revision: 'r1',
  workflows: [
    {
      name: 'onboard',
      enabled: true,
      default_version: '1.2.0',
      versions: [
        { version: '1.2.0', present: true, deprecated: false, retired: false, manifest: ONBOARD as unknown as Record<string, unknown> },
        { version: '1.1.0', present: true, deprecated: false, retired: false, manifest: ONBOARD_1 as unknown as Record<string, unknown> },
      ],
    },
    {
      name: 'other',
      enabled: true,
      default_version: '1.2.0',
      versions: [{ version: '1.2.0', present: true, deprecated: false, retired: false, manifest: OTHER as unknown as Record<string, unknown> }],
    },
  ],
};
// The executor stays unreachable for starts: each start's message stays in the outbox, where it can be counted.
const executor = new StandInServer((req) => (req.path === '/api/workflows/catalog' ? { status: 200, body: catalog } : { status: 503, body: {} }));
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('POST /workflows/:name/runs with an Idempotency-Key', () => {
  let core: ServiceWithDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_run_idem', executor, bucket });
    dataSource = core.dataSource;
  });
  afterAll(() => core?.close());

  const start = async (body: unknown, key?: string, who: RequesterId = RequesterId.Prana, workflow = 'onboard', claims?: { products?: string[] }) => {
    const res = await fetch(`${core.url}/workflows/${workflow}/runs`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await core.keys.mint(who, 'core', claims)}`,
        ...(key !== undefined ? { 'idempotency-key': key } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, replay: res.headers.get('idempotent-replay'), body: (await res.json()) as Record<string, unknown> };
  };
  /** Run requests (and their start messages) of this user. */
  const stored = async (user: string): Promise<{ runs: number; messages: number }> => {
    const [row] = await dataSource.query(
      `SELECT (SELECT count(*) FROM workflow_run_requests WHERE user_id = $1)::int AS runs,
              (SELECT count(*) FROM outbox o JOIN workflow_run_requests r ON o.message_key = r.run_id::text
                WHERE r.user_id = $1 AND o.topic = 'workflow-executor.run-start')::int AS messages`,
      [user],
    );
    return row;
  };
  const user = () => `u-${randomUUID().slice(0, 8)}`;

  it('a retry with the same key and body gets the first 202 (same run_id) and starts nothing more', async () => {
    const key = randomUUID();
    const u = user();
    const body = { user_id: u, inputs: { email: `${u}@example.com` } };
    const first = await start(body, key);
    expect([first.status, first.replay]).toEqual([202, null]);
    expect(first.body).toMatchObject({ workflow: 'onboard', version: '1.2.0', status: 'pending', run_id: expect.any(String) });
    const retry = await start(body, key);
    expect([retry.status, retry.replay]).toEqual([202, 'true']);
    expect(retry.body).toEqual(first.body);
    expect(await stored(u)).toEqual({ runs: 1, messages: 1 });
    // The same request without a key is a new run, as before.
    expect((await start(body)).body.run_id).not.toBe(first.body.run_id);
    expect(await stored(u)).toEqual({ runs: 2, messages: 2 });
  });

  it('the same key with another request (workflow, version, inputs, user_id, product) is a 409 that stores nothing', async () => {
    const key = randomUUID();
    const u = user();
    const body = { user_id: u, product: 'acme', version: '1.2.0', inputs: { email: `${u}@example.com` } };
    expect((await start(body, key)).status).toBe(202);
    const u2 = user();
    const others: [unknown, string][] = [
      [body, 'other'],
      [{ ...body, version: '^1' }, 'onboard'],
      [{ ...body, version: undefined }, 'onboard'],
      [{ ...body, inputs: { email: `x${u}@example.com` } }, 'onboard'],
      [{ ...body, user_id: u2, inputs: { email: `${u}@example.com` } }, 'onboard'],
      [{ ...body, product: 'shop' }, 'onboard'],
    ];
    for (const [other, workflow] of others) {
      const res = await start(other, key, RequesterId.Prana, workflow);
      expect([JSON.stringify(other), workflow, res.status, res.body.code]).toEqual([JSON.stringify(other), workflow, 409, 'idempotency_key_reused']);
      expect(res.body.message).toMatch(/Idempotency-Key was already used with a different request/);
    }
    expect(await stored(u)).toEqual({ runs: 1, messages: 1 });
    expect(await stored(u2)).toEqual({ runs: 0, messages: 0 });
  });

  it('keys are per requester: another requester with the same key and body starts its own run', async () => {
    const key = randomUUID();
    const u = user();
    const body = { user_id: u, inputs: { email: `${u}@example.com` } };
    const prana = await start(body, key, RequesterId.Prana);
    const operator = await start(body, key, RequesterId.Operator);
    expect([prana.status, operator.status, operator.replay]).toEqual([202, 202, null]);
    expect(operator.body.run_id).not.toBe(prana.body.run_id);
    expect(await stored(u)).toEqual({ runs: 2, messages: 2 });
  });

  it('a retry is the same request whatever product was implied for it: a narrowed caller naming none gets its first answer', async () => {
    const key = randomUUID();
    const u = user();
    const body = { user_id: u, inputs: { email: `${u}@example.com` } };
    const first = await start(body, key, RequesterId.Prana, 'onboard', { products: ['acme'] });
    const retry = await start(body, key, RequesterId.Prana, 'onboard', { products: ['acme'] });
    expect([first.status, retry.status, retry.replay, retry.body.run_id]).toEqual([202, 202, 'true', first.body.run_id]);
    expect(await stored(u)).toEqual({ runs: 1, messages: 1 });
  });

  it('a start refused (422) stores no key: the corrected request with the same key starts the run', async () => {
    const key = randomUUID();
    const u = user();
    const bad = await start({ user_id: u, inputs: {} }, key);
    expect([bad.status, bad.body.code]).toEqual([422, 'inputs_invalid']);
    const good = await start({ user_id: u, inputs: { email: `${u}@example.com` } }, key);
    expect([good.status, good.replay]).toEqual([202, null]);
    expect(await stored(u)).toEqual({ runs: 1, messages: 1 });
  });

  it('four concurrent requests with one key start one run (the key table’s primary key decides), and all get its answer', async () => {
    const key = randomUUID();
    const u = user();
    const body = { user_id: u, inputs: { email: `${u}@example.com` } };
    // Hold the run table: the first request waits inside its transaction with the key claimed, the others have all
    // read "no such key" and wait on its claim; then everything commits at once. (Four, within Core's pool of
    // connections: each holds one while it waits.)
    const held = await holdTable(dataSource, 'workflow_run_requests');
    let replies: Awaited<ReturnType<typeof start>>[] = [];
    try {
      const sent = Array.from({ length: 4 }, () => start(body, key));
      await held.waiting('INSERT INTO workflow_run_requests');
      await poll('three requests waiting on the first one’s key', async () => {
        const [row] = await dataSource.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND position('INSERT INTO run_idempotency_keys' in query) > 0`,
        );
        return row.n === 3 || undefined;
      });
      await held.release();
      replies = await Promise.all(sent);
    } finally {
      await held.release().catch(() => undefined);
    }
    expect(replies.map((r) => r.status)).toEqual(Array(4).fill(202));
    expect(new Set(replies.map((r) => r.body.run_id)).size).toBe(1);
    expect(replies.filter((r) => r.replay === 'true')).toHaveLength(3);
    expect(await stored(u)).toEqual({ runs: 1, messages: 1 });
  });

  it('a malformed key is a 422 naming Idempotency-Key, and idempotency_key in the body stays refused: nothing is stored', async () => {
    const u = user();
    const body = { user_id: u, inputs: { email: `${u}@example.com` } };
    const malformed = await start(body, 'has spaces in it');
    expect([malformed.status, (malformed.body.errors as { field: string }[])[0].field]).toEqual([422, 'Idempotency-Key']);
    const inBody = await start({ ...body, idempotency_key: randomUUID() });
    expect([inBody.status, (inBody.body.errors as { field: string }[])[0].field]).toEqual([422, 'idempotency_key']);
    expect(await stored(u)).toEqual({ runs: 0, messages: 0 });
  });
});
