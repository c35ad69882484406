/**
 * `pancha` pointed at a server that answers, but not as Core does (PANCHA_URL naming another service, a proxy's own
 * answers): every remote command, as the parser lists them, against `{"hello":"world"}` and against answers of the
 * right top-level type whose items lack the fields drawn; and, each command meeting one, `[]`, `"text"`, `null`, an
 * empty body, a web page, and error statuses with bodies that are not Core's error (core-answers.spec.ts runs every
 * answer's check against all of them in process). Each is exit 2 with one line naming the request, what was expected
 * and where the body differs: no internal TypeError, no stack trace, no table of `undefined`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type CliResult, pancha } from './testing/run-cli';

jest.setTimeout(600_000);

const RUN = '3f0c8f7e-9a51-4d4e-8e1a-2b7c1d9e0a11';
const NOW = '2026-11-28T10:00:00.000Z';

/** A run summary as Core draws it, so a hollow run view fails on what it lacks (its steps' fields), not before. */
const runSummary = { run_id: RUN, workflow: 'w', version: '1.0.0', status: 'running', user_id: null, product: null, trace_id: 't', parent_run_id: null, created_at: NOW, completed_at: null, duration_ms: null, error: null };

/** Answers of the right top-level type whose items (or the object itself) lack the fields a command draws. */
const HOLLOW: Array<[RegExp, unknown]> = [
  [/^GET \/workflows$/, { workflows: [{}], revision: '1' }],
  [/^GET \/workflows\/stats$/, { window: '24h', since: NOW, workflows: [{}] }],
  [/^GET \/workflows\/[^/]+\/versions\/[^/]+$/, { name: 'w', version: '1.0.0', deprecated: false, retired: false, triggers: [], security: { actions: [], http_hosts: [], secrets: [] }, tests: [], steps: [{}] }],
  [/^(GET \/workflows\/[^/]+|POST \/workflows\/[^/]+\/(enable|disable))$/, { name: 'w', enabled: true, default_version: null, description: null, versions: [{}], setting: null }],
  [/^POST \/workflows\/reload$/, { registered: [{}], unchanged: 0, refused: [], findings: [] }],
  [/^GET \/runs$/, { runs: [{}], next_cursor: null }],
  [/^GET \/runs\/[^/]+$/, { ...runSummary, actor: null, cancel_requested: false, steps: [{}], children: [] }],
  [/^POST \/runs\/[^/]+\/(cancel|retry)$/, { run_id: RUN }],
  [/^POST \/runs\/[^/]+\/signals\/[^/]+$/, { signal_id: 's', run: {} }],
  [/^GET \/plugins$/, { plugins: [{}] }],
  [/^GET \/plugins\/[^/]+$/, { name: 'sms' }],
  [/^GET \/events\/stats$/, { since: NOW, received: 1 }],
  [/^GET \/events$/, { events: [{}] }],
  [/^GET \/events\/[^/]+$/, { event_id: 'ev', type: 't', decisions: [{}] }],
  [/^POST \/events$/, { event_id: 'ev', trace_id: 't', runs: [{}], skipped: [] }],
  [/^POST \/handle_tasks$/, { tasks: [{}] }],
];

interface Reply {
  status: number;
  type?: string;
  body: string;
}

/** How the server answers every request under `/<mode>/…`. */
const MODES: Record<string, (route: string) => Reply> = {
  hello: () => ({ status: 200, body: '{"hello":"world"}' }),
  array: () => ({ status: 200, body: '[]' }),
  text: () => ({ status: 200, body: '"text"' }),
  null: () => ({ status: 200, body: 'null' }),
  empty: () => ({ status: 200, body: '' }),
  page: () => ({ status: 200, type: 'text/html', body: '<!doctype html><title>not Core</title>' }),
  hollow: (route) => {
    const found = HOLLOW.find(([pattern]) => pattern.test(route));
    return found ? { status: 200, body: JSON.stringify(found[1]) } : { status: 599, body: `no hollow answer for ${route}` };
  },
  'no-task-answers': () => ({ status: 202, body: '{"tasks":[]}' }),
  'not-found-hello': () => ({ status: 404, body: '{"hello":"world"}' }),
  'error-array': () => ({ status: 500, body: '[]' }),
  'error-empty': () => ({ status: 500, body: '' }),
  // Express's own 404 (another Nest service without Core's error filter): no `code`.
  'error-express': () => ({ status: 404, body: '{"statusCode":404,"message":"Cannot GET /x","error":"Not Found"}' }),
  'error-message-object': () => ({ status: 502, body: '{"code":"bad_gateway","message":{"detail":"upstream"}}' }),
  // Another service with the same error filter as Core (Bucket): Nest's 404 for a route it does not have.
  'no-route': (route) => ({ status: 404, body: JSON.stringify({ code: 'not_found', message: `Cannot ${route.replace(' ', ' /no-route')}`, trace_id: null }) }),
};

/** Every command that talks to Core, with arguments that pass the CLI's own checks (so a request is made). */
const REMOTE: Array<{ command: string; args: string[] }> = [
  { command: 'workflows list', args: ['workflows', 'list'] },
  { command: 'workflows show', args: ['workflows', 'show', 'onboard-learner'] },
  { command: 'workflows show', args: ['workflows', 'show', 'onboard-learner@1.0.0'] },
  { command: 'workflows enable', args: ['workflows', 'enable', 'onboard-learner'] },
  { command: 'workflows disable', args: ['workflows', 'disable', 'onboard-learner', '--reason', 'test'] },
  { command: 'workflows reload', args: ['workflows', 'reload'] },
  { command: 'workflows stats', args: ['workflows', 'stats'] },
  { command: 'runs list', args: ['runs', 'list'] },
  { command: 'runs show', args: ['runs', 'show', RUN] },
  { command: 'runs cancel', args: ['runs', 'cancel', RUN] },
  { command: 'runs retry', args: ['runs', 'retry', RUN] },
  { command: 'runs signal', args: ['runs', 'signal', RUN, 'mentor_ok'] },
  { command: 'plugins list', args: ['plugins', 'list'] },
  { command: 'plugins show', args: ['plugins', 'show', 'sms'] },
  { command: 'events stats', args: ['events', 'stats'] },
  { command: 'events list', args: ['events', 'list'] },
  { command: 'events show', args: ['events', 'show', 'ev-1'] },
  { command: 'events send', args: ['events', 'send', 'x.y', '--data', '{}'] },
  { command: 'tasks submit', args: ['tasks', 'submit', '--input', 'hello', '--user', 'u1'] },
];
/** Commands that work on files and never call Core. */
const OFFLINE = ['workflows validate', 'workflows test', 'workflows docs', 'workflows generate', 'workflows import'];

const NOT_CORE = " is it Core's address \\(PANCHA_URL, --url\\)\\?";

describe("pancha against a server that is not Core's", () => {
  let server: Server;
  let base: string;
  let dir: string;
  const env = (mode: string) => ({ PANCHA_URL: `${base}/${mode}`, PANCHA_TOKEN: 'not-a-real-token' });

  beforeAll(async () => {
    server = createServer((req, res) => {
      // Read the whole request before answering, as a server does.
      req.resume();
      req.on('end', () => {
        const [, mode, ...rest] = (req.url ?? '/').split('?')[0].split('/');
        const reply = (MODES[mode] ?? (() => ({ status: 599, body: `no mode ${mode}` })))(`${req.method} /${rest.join('/')}`);
        res.writeHead(reply.status, { 'content-type': reply.type ?? 'application/json' }).end(reply.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(path.join(tmpdir(), 'pancha-not-core-'));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs every case, one CLI process after another: when sources change during the run the wrapper rebuilds dist/,
   * and two processes building at once would trip over each other's build lock.
   */
  async function runAll<C>(cases: C[], run: (c: C) => Promise<CliResult>): Promise<Array<[C, CliResult]>> {
    const results: Array<[C, CliResult]> = [];
    for (const c of cases) results.push([c, await run(c)]);
    return results;
  }

  /** Exit 2, nothing on stdout, and one line on stderr that names the request and asks whether it is Core. */
  function expectNotCore(label: unknown, res: CliResult, mode: string, said: string): void {
    const line = new RegExp(`^pancha: (GET|POST) ${base.replace(/[.]/g, '\\.')}/${mode}/\\S+ answered \\d{3} ${said}:${NOT_CORE}\\n$`);
    expect({ label, status: res.status, stdout: res.stdout, stderr: res.stderr }).toEqual({ label, status: 2, stdout: '', stderr: expect.stringMatching(line) });
    expect(res.stderr).not.toMatch(/TypeError|Cannot read|undefined|\n\s+at /);
  }

  it('covers every command of the parser that talks to Core', async () => {
    const commands: string[] = [];
    const listed = async (args: string[]) => {
      const help = await pancha([...args, '--help']);
      const section = /\nCommands:\n([\s\S]*?)(\n\n|$)/.exec(help.stdout)?.[1] ?? '';
      return section.split('\n').flatMap((l) => (/^ {2}\S/.test(l) ? [l.trim().split(/\s/)[0].split('|')[0]] : [])).filter((c) => c !== 'help');
    };
    for (const group of await listed([])) for (const command of await listed([group])) commands.push(`${group} ${command}`);
    expect(commands.length).toBeGreaterThan(15);
    expect([...new Set([...REMOTE.map((c) => c.command), ...OFFLINE])].sort()).toEqual(commands.sort());
  });

  it('JSON of another shape answered with 200 to every path: exit 2 in one line, for every command', async () => {
    const said = 'but not .+ \\(\\S+: expected .+, got nothing; body \\{"hello":"world"\\}\\)';
    const results = await runAll(REMOTE, (c) => pancha(c.args, { env: env('hello') }));
    for (const [c, res] of results) expectNotCore(c.args, res, 'hello', said);
    expect(results.find(([c]) => c.command === 'workflows list')?.[1].stderr).toBe(`pancha: GET ${base}/hello/workflows answered 200 but not a workflow list (workflows: expected an array, got nothing; body {"hello":"world"}): is it Core's address (PANCHA_URL, --url)?\n`);
  });

  it('`[]`, `"text"`, `null`, an empty body, a web page, or an error status without Core\'s error body: exit 2 in one line (each command meets one)', async () => {
    // Every answer's check is the same code whatever the command (core-answers.spec.ts runs each against all of these):
    // here each command meets one of them, so every command's path from the answer to its exit is run.
    const said: Record<string, string> = {
      array: 'but not .+ \\(expected an object, got an array \\[\\]\\)',
      text: 'but not .+ \\(expected an object, got a string "text"\\)',
      null: 'but not .+ \\(expected an object, got null\\)',
      empty: 'with an empty body, not .+',
      page: 'with text/html, not JSON',
      'not-found-hello': "but not an error of Core's \\(\\{code, message\\}\\) \\(code: expected a string, got nothing; body \\{\"hello\":\"world\"\\}\\)",
      'error-array': "but not an error of Core's \\(\\{code, message\\}\\) \\(expected an object, got an array \\[\\]\\)",
      'error-empty': "with an empty body, not an error of Core's \\(\\{code, message\\}\\)",
      'error-express': "but not an error of Core's \\(\\{code, message\\}\\) \\(code: expected a string, got nothing; body .+\\)",
      'error-message-object': "but not an error of Core's \\(\\{code, message\\}\\) \\(message: expected a string, got an object .+\\)",
    };
    const modes = Object.keys(said);
    const cases = REMOTE.map((c, i) => ({ mode: modes[i % modes.length], args: c.args }));
    expect(new Set(cases.map((c) => c.mode)).size).toBe(modes.length);
    for (const [c, res] of await runAll(cases, (c) => pancha(c.args, { env: env(c.mode) }))) expectNotCore(c, res, c.mode, said[c.mode]);
  });

  it('the right top-level type with items or fields missing is not drawn as `undefined`: exit 2 naming the first missing field', async () => {
    const results = await runAll(REMOTE, (c) => pancha(c.args, { env: env('hollow') }));
    for (const [c, res] of results) expectNotCore(c.args, res, 'hollow', 'but not .+ \\(\\S+: expected .+, got nothing; body .+\\)');
    const stderr = (args: string[]) => results.find(([c]) => c.args.join(' ') === args.join(' '))?.[1].stderr;
    expect(stderr(['workflows', 'list'])).toBe(
      `pancha: GET ${base}/hollow/workflows answered 200 but not a workflow list (workflows[0].name: expected a string, got nothing; body {"workflows":[{}],"revision":"1"}): is it Core's address (PANCHA_URL, --url)?\n`,
    );
    expect(stderr(['runs', 'show', RUN])).toMatch(/ answered 200 but not a run \(steps\[0\]\.path: expected a string, got nothing; body /);
    expect(stderr(['workflows', 'show', 'onboard-learner@1.0.0'])).toMatch(/ answered 200 but not a workflow version \(steps\[0\]\.id: expected a string, got nothing; /);
    expect(stderr(['tasks', 'submit', '--input', 'hello', '--user', 'u1'])).toMatch(/^pancha: POST \S+\/hollow\/handle_tasks answered 200 but not an answer for 1 task \(tasks\[0\]\.task_id: expected a string, got nothing; /);
  });

  it('--json prints no answer that is not Core\'s either', async () => {
    for (const [c, res] of await runAll([['workflows', 'list'], ['events', 'list'], ['runs', 'show', RUN]], (args) => pancha(['--json', ...args], { env: env('hello') }))) {
      expectNotCore(c, res, 'hello', 'but not .+ \\(.+\\)');
    }
  });

  it("a 404 saying the route does not exist (Nest's `Cannot GET /events`, from Bucket say) is no answer of Core's: exit 2 for every command, --json too", async () => {
    const results = await runAll(REMOTE, (c) => pancha(c.args, { env: env('no-route') }));
    for (const [c, res] of results) expectNotCore(c.args, res, 'no-route', 'not_found: Cannot (GET|POST) /no-route/\\S+ \\(no such route here; Core has it\\)');
    expect(results.find(([c]) => c.command === 'events list')?.[1].stderr).toBe(
      `pancha: GET ${base}/no-route/events answered 404 not_found: Cannot GET /no-route/events (no such route here; Core has it): is it Core's address (PANCHA_URL, --url)?\n`,
    );
    expectNotCore('--json', await pancha(['--json', 'events', 'list'], { env: env('no-route') }), 'no-route', 'not_found: .+');
  });

  it('an answer with fewer tasks than were sent is not taken as stored: exit 2 saying how many it had', async () => {
    const file = path.join(dir, 'two.jsonl');
    writeFileSync(file, '{"input":"a","user_id":"u1"}\n{"input":"b","user_id":"u2"}\n');
    const res = await pancha(['tasks', 'submit', file], { env: env('no-task-answers') });
    expect([res.status, res.stdout]).toEqual([2, '']);
    expect(res.stderr).toBe(
      `pancha: POST ${base}/no-task-answers/handle_tasks answered 202 but not an answer for 2 tasks (tasks: expected 2 items, one per task sent, got 0; body {"tasks":[]}): is it Core's address (PANCHA_URL, --url)?\n`,
    );
  });
});
