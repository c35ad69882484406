/**
 * `pancha tasks submit` as a producer runs it: the built binary against a stand-in Core that answers POST
 * /handle_tasks like Core (one answer per task, in order; a 422 naming `tasks.<i>.<field>`; `idempotent-replay` for a
 * key it has seen). Asserts the requests (batches, bodies, keys), what is printed, and the exit status.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestKeys, type RecordedRequest, StandInServer, type TestKeys } from '@pancha/testing';
import { json, pancha } from './testing/run-cli';

jest.setTimeout(60_000);

type Task = { input?: unknown; user_id?: unknown };

describe('pancha tasks submit', () => {
  const seenKeys = new Map<string, unknown>();
  let core: StandInServer;
  let keys: TestKeys;
  let env: Record<string, string>;
  let dir: string;

  /** Core as far as this command sees it: every task with a user_id is accepted; a key seen before is a replay. */
  function answer(req: RecordedRequest) {
    if (req.method !== 'POST' || req.path !== '/handle_tasks') return { status: 404, body: { code: 'not_found', message: 'no route' } };
    const tasks = (req.body as { tasks: Task[] }).tasks;
    // Something that is not Core (a proxy's page as JSON), or a connection cut before any answer.
    if (tasks.some((t) => t.user_id === 'foreign')) return { status: 202, body: { ok: true } };
    if (tasks.some((t) => t.user_id === 'cut')) throw new Error('connection cut');
    const bad = tasks.flatMap((t, i) => [
      ...(t.input === '' ? [{ field: `tasks.${i}.input`, messages: ['input should not be empty'] }] : []),
      ...(typeof t.user_id === 'string' ? [] : [{ field: `tasks.${i}.user_id`, messages: ['user_id must be a string'] }]),
    ]);
    if (bad.length) return { status: 422, body: { code: 'validation_failed', message: `invalid request: ${bad.map((b) => b.field).join(', ')}`, trace_id: 'x', errors: bad } };
    const key = req.headers['idempotency-key'];
    const earlier = key === undefined ? undefined : seenKeys.get(String(key));
    if (earlier) return { status: 202, body: earlier, headers: { 'idempotent-replay': 'true' } };
    const body = { tasks: tasks.map((t) => ({ task_id: `task-${String(t.user_id)}`, trace_id: `trace-${String(t.user_id)}`, decision: 'respond', status: 'decided' })) };
    // Without a key every request is stored anew (as Core does).
    if (key !== undefined) seenKeys.set(String(key), body);
    return { status: 202, body };
  }

  beforeAll(async () => {
    keys = createTestKeys('pancha-tasks');
    core = await new StandInServer(answer).start();
    env = { PANCHA_URL: core.url, PANCHA_KEYS_DIR: keys.dir };
    dir = mkdtempSync(path.join(tmpdir(), 'pancha-tasks-'));
  });
  afterAll(async () => {
    await core.close();
    keys.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => core.requests.splice(0));

  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const sent = () => core.requests.map((r) => (r.body as { tasks: Task[] }).tasks);
  const keysSent = () => core.requests.map((r) => r.headers['idempotency-key']);

  it('sends a file of JSON Lines in batches, each task once, and prints each task by its line', async () => {
    const tasks = file('three.jsonl', ['{"input":"good morning","user_id":"u1"}', '', '{"input":"hello","user_id":"u2"}', '{"input":"hi","user_id":"u3","tags":["own"]}', ''].join('\n'));
    const res = await pancha(['tasks', 'submit', tasks, '--batch', '2', '--tag', 'import', '--product', 'gurukul'], { env });
    expect(res.status).toBe(0);
    expect(sent()).toEqual([
      [
        { input: 'good morning', user_id: 'u1', product: 'gurukul', tags: ['import'] },
        { input: 'hello', user_id: 'u2', product: 'gurukul', tags: ['import'] },
      ],
      [{ input: 'hi', user_id: 'u3', product: 'gurukul', tags: ['own'] }],
    ]);
    expect(new Set(keysSent()).size).toBe(2);
    for (const key of keysSent()) expect(key).toMatch(/^pancha-tasks-[0-9a-f]{64}$/);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^LINE\s+TASK\s+TRACE\s+DECISION\s+STATUS\s+RUN$/);
    expect(lines.slice(1, 4).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([['1', 'task-u1'], ['3', 'task-u2'], ['4', 'task-u3']]);
    expect(lines[4]).toBe('3 tasks in 2 requests');
  });

  it('run again, it resumes: the same keys, answered from them, and it says nothing was stored twice', async () => {
    const tasks = file('again.jsonl', '{"input":"a","user_id":"r1"}\n{"input":"b","user_id":"r2"}\n');
    await pancha(['tasks', 'submit', tasks], { env });
    const again = await pancha(['tasks', 'submit', tasks], { env });
    expect(again.status).toBe(0);
    expect(keysSent()[0]).toBe(keysSent()[1]);
    expect(again.stdout).toContain('2 tasks in 1 request; 2 stored by an earlier run of this command');
    // Another --key is another submission: new keys, so Core stores the tasks again.
    await pancha(['tasks', 'submit', tasks, '--key', 'tuesday'], { env });
    expect(keysSent()[2]).not.toBe(keysSent()[0]);
  });

  it('reports a refused batch by the file line and field, with what was stored before it (exit 1)', async () => {
    const tasks = file('bad.jsonl', ['{"input":"a","user_id":"b1"}', '{"input":"b","user_id":"b2"}', '{"input":"c","user_id":"b3"}', '{"input":"d","user_id":7}'].join('\n'));
    const res = await pancha(['tasks', 'submit', tasks, '--batch', '2'], { env });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('lines 3–4 not stored: line 4 user_id: user_id must be a string; the 2 tasks before them were stored: run the same command again to resume');
  });

  it.each([
    ['a foreign answer', 'foreign', '/handle_tasks answered 202 but not an answer for 1 task'],
    ['a connection cut before the answer', 'cut', 'cannot reach Core at'],
  ])('on %s to a later batch, says that batch may or may not be stored and how many before it were (exit 2)', async (_what, user, said) => {
    const tasks = file(`later-${user}.jsonl`, ['{"input":"a","user_id":"l1"}', '{"input":"b","user_id":"l2"}', `{"input":"c","user_id":"${user}"}`].join('\n'));
    const res = await pancha(['tasks', 'submit', tasks, '--batch', '2', '--key', `later-${user}`], { env });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(said);
    expect(res.stderr).toContain('line 3 may or may not be stored; the 2 tasks before them were stored: run the same command again to resume (nothing is stored twice)');
  });

  it('keeps each request within the body Core takes (256 KiB), splitting before the batch size when tasks are large', async () => {
    const big = Array.from({ length: 30 }, (_, i) => JSON.stringify({ input: 'x'.repeat(10_000), user_id: `big-${i}` }));
    const res = await pancha(['tasks', 'submit', file('big.jsonl', big.join('\n'))], { env });
    expect(res.status).toBe(0);
    expect(sent().map((tasks) => tasks.length)).toEqual([26, 4]);
    for (const r of core.requests) expect(Buffer.byteLength(JSON.stringify(r.body))).toBeLessThanOrEqual(256 * 1024);
    expect(res.stdout).toContain('30 tasks in 2 requests');
  });

  it('refuses a file it cannot read as tasks before sending anything (exit 2)', async () => {
    const notJson = await pancha(['tasks', 'submit', file('broken.jsonl', '{"input":"a","user_id":"u"}\n{oops\n')], { env });
    expect(notJson.status).toBe(2);
    expect(notJson.stderr).toMatch(/broken\.jsonl:2: not JSON/);
    const notObject = await pancha(['tasks', 'submit', file('array.json', '[{"input":"a","user_id":"u"}, 5]')], { env });
    expect(notObject.stderr).toContain('array.json item 2: a task must be a JSON object');
    expect((await pancha(['tasks', 'submit', file('empty.jsonl', '\n\n')], { env })).stderr).toContain('holds no tasks');
    expect((await pancha(['tasks', 'submit', file('one.jsonl', '{}'), '--batch', '101'], { env })).stderr).toContain('--batch must be an integer from 1 to 100');
    expect((await pancha(['tasks', 'submit'], { env })).stderr).toContain('give a file of tasks, or --input and --user');
    expect(core.requests).toHaveLength(0);
  });

  it('accepts a file that starts with a UTF-8 byte order mark, as JSON Lines or an array', async () => {
    const lines = await pancha(['tasks', 'submit', file('bom.jsonl', '\uFEFF{"input":"a","user_id":"bom1"}\n{"input":"b","user_id":"bom2"}\n')], { env });
    expect([lines.status, lines.stderr]).toEqual([0, '']);
    const array = await pancha(['tasks', 'submit', file('bom.json', '\uFEFF[{"input":"c","user_id":"bom3"}]')], { env });
    expect([array.status, array.stderr]).toEqual([0, '']);
    expect(sent()).toEqual([[{ input: 'a', user_id: 'bom1' }, { input: 'b', user_id: 'bom2' }], [{ input: 'c', user_id: 'bom3' }]]);
    expect(lines.stdout.trimEnd().split('\n').slice(1, 3).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([['1', 'task-bom1'], ['2', 'task-bom2']]);
  });

  it('one task from the options run twice is two tasks: no Idempotency-Key unless --key names the submission', async () => {
    const args = ['--json', 'tasks', 'submit', '--input', 'same words', '--user', 'pat'];
    const first = await pancha(args, { env });
    const second = await pancha(args, { env });
    expect([first.status, second.status]).toEqual([0, 0]);
    expect(core.requests).toHaveLength(2);
    expect(keysSent()).toEqual([undefined, undefined]);
    expect(json(second).tasks[0].replayed).toBe(false);
    const plain = await pancha(args.slice(1), { env });
    expect(plain.stdout).toContain('1 task in 1 request\n');
    expect(plain.stdout).not.toContain('stored by an earlier run');
    // Named with --key, the same command again is answered from its key: stored once.
    core.requests.splice(0);
    await pancha([...args, '--key', 'monday'], { env });
    const resumed = await pancha([...args, '--key', 'monday'], { env });
    expect(keysSent()[0]).toMatch(/^pancha-tasks-[0-9a-f]{64}$/);
    expect(keysSent()[1]).toBe(keysSent()[0]);
    expect(json(resumed).tasks[0].replayed).toBe(true);
  });

  it('one task from the options that Core refuses is told by its fields, without file lines it does not have (exit 1)', async () => {
    const res = await pancha(['tasks', 'submit', '--input', '', '--user', 'solo'], { env });
    expect([res.status, res.stdout, res.stderr]).toEqual([1, '', 'pancha: task not stored: input: input should not be empty\n']);
    // From a file, each field by its line, each with its messages.
    const lines = await pancha(['tasks', 'submit', file('two-bad.jsonl', '{"input":"","user_id":5}\n')], { env });
    expect([lines.status, lines.stderr]).toEqual([1, 'pancha: line 1 not stored: line 1 input: input should not be empty; line 1 user_id: user_id must be a string\n']);
    // --json: Core's error as it answered it, on stdout.
    const asJson = await pancha(['--json', 'tasks', 'submit', '--input', '', '--user', 'solo'], { env });
    expect(asJson.status).toBe(1);
    expect(json(asJson)).toEqual({ code: 'validation_failed', message: 'invalid request: tasks.0.input', trace_id: 'x', errors: [{ field: 'tasks.0.input', messages: ['input should not be empty'] }] });
  });

  it('submits one task from the options, and --json prints the answers with their lines', async () => {
    const res = await pancha(['--json', 'tasks', 'submit', '--input', 'good morning', '--user', 'solo', '--tag', 'a', '--tag', 'b'], { env });
    expect(res.status).toBe(0);
    expect(sent()).toEqual([[{ input: 'good morning', user_id: 'solo', tags: ['a', 'b'] }]]);
    expect(json(res)).toEqual({ requests: 1, tasks: [{ line: 1, task_id: 'task-solo', trace_id: 'trace-solo', decision: 'respond', status: 'decided', replayed: false }] });
  });
});
