/**
 * The client boundary in process: CoreClient against a real local HTTP server answering every kind of Core answer the
 * CLI reads with what another server would (JSON of another shape, an empty body, a web page, error bodies that are
 * not Core's). Each is an UnexpectedAnswer (exit 2) in one line naming the request and what was expected; Core's own
 * error is still an ApiError (exit 1). The CLI spec (pancha-not-core.spec.ts) runs the commands themselves.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, exitCodeOf, UnexpectedAnswer } from './cli-errors';
import * as answers from './core-answers';
import { CoreClient } from './core-client';
import { arrayOf, describe as describeValue, excerpt, nullable, number, object, optional, recordOf, ShapeMismatch, string } from './shape';

type AnyAnswer = answers.Answer<unknown>;
const ALL: Array<[string, AnyAnswer]> = [
  ...(Object.entries(answers) as Array<[string, unknown]>).filter((e): e is [string, AnyAnswer] => typeof e[1] === 'object' && e[1] !== null && 'check' in e[1]),
  ['tasksAcceptedFor(3)', answers.tasksAcceptedFor(3)],
];

const REPLIES: Record<string, { status: number; type?: string; body: string }> = {
  hello: { status: 200, body: '{"hello":"world"}' },
  object: { status: 200, body: '{}' },
  array: { status: 200, body: '[]' },
  text: { status: 200, body: '"text"' },
  null: { status: 200, body: 'null' },
  number: { status: 200, body: '42' },
  empty: { status: 200, body: '' },
  page: { status: 200, type: 'text/html', body: '<html>not Core</html>' },
  'json-typed-page': { status: 200, body: '<html>not Core</html>' },
  'error-hello': { status: 404, body: '{"hello":"world"}' },
  'error-array': { status: 500, body: '[]' },
  'error-null': { status: 500, body: 'null' },
  'error-text': { status: 503, body: '"unavailable"' },
  'error-empty': { status: 502, body: '' },
  'error-page': { status: 502, type: 'text/html', body: '<h1>Bad Gateway</h1>' },
  'error-express': { status: 404, body: '{"statusCode":404,"message":"Cannot GET /x","error":"Not Found"}' },
  'error-code-number': { status: 404, body: '{"code":404,"message":"not found"}' },
  'core-error': { status: 404, body: '{"code":"unknown_workflow","message":"no workflow named x\\n\\u001b[31mred","trace_id":"t"}' },
};

describe('CoreClient checks every answer at the boundary', () => {
  let server: Server;
  let client: CoreClient;
  let base: string;
  const token = process.env.PANCHA_TOKEN;

  beforeAll(async () => {
    process.env.PANCHA_TOKEN = 'not-a-real-token';
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const reply = REPLIES[(req.url ?? '').split('/')[1]] ?? { status: 599, body: 'no such reply' };
        res.writeHead(reply.status, { 'content-type': reply.type ?? 'application/json' }).end(reply.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new CoreClient({ url: base });
  });
  afterAll(async () => {
    if (token === undefined) delete process.env.PANCHA_TOKEN;
    else process.env.PANCHA_TOKEN = token;
    await new Promise((resolve) => server.close(resolve));
  });

  async function failure(reply: string, answer: AnyAnswer): Promise<Error> {
    const error = await client.get(`/${reply}/some/route?cursor=abc`, answer).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    if (!error) throw new Error(`${reply} was taken as ${answer.what}`);
    return error;
  }

  it('knows every answer the commands read', () => {
    expect(ALL.map(([name]) => name).sort()).toEqual(
      [
        'CORE_ERROR', 'EVENT', 'EVENT_ACCEPTED', 'EVENT_LIST', 'EVENT_STATS', 'LOAD_REPORT', 'PLUGIN', 'PLUGIN_LIST', 'RUN', 'RUN_LIST', 'RUN_SUMMARY',
        'SIGNAL_SENT', 'WORKFLOW', 'WORKFLOW_LIST', 'WORKFLOW_STATS', 'WORKFLOW_VERSION', 'tasksAcceptedFor(3)',
      ].sort(),
    );
  });

  it.each(ALL)('%s: an answer of another shape is an UnexpectedAnswer (exit 2) in one line naming the request', async (_name, answer) => {
    const what = answer.what.replace(/[(){}[\]]/g, '\\$&');
    const said: Record<string, string> = {
      hello: `but not ${what} \\(\\S+: expected .+, got nothing; body \\{"hello":"world"\\}\\)`,
      object: `but not ${what} \\(\\S+: expected .+, got nothing; body \\{\\}\\)`,
      array: `but not ${what} \\(expected an object, got an array \\[\\]\\)`,
      text: `but not ${what} \\(expected an object, got a string "text"\\)`,
      null: `but not ${what} \\(expected an object, got null\\)`,
      number: `but not ${what} \\(expected an object, got number 42\\)`,
      empty: `with an empty body, not ${what}`,
      page: 'with text/html, not JSON',
      'json-typed-page': 'with application/json, not JSON',
      'error-hello': "but not an error of Core's \\(\\{code, message\\}\\) \\(code: expected a string, got nothing; body \\{\"hello\":\"world\"\\}\\)",
      'error-array': "but not an error of Core's \\(\\{code, message\\}\\) \\(expected an object, got an array \\[\\]\\)",
      'error-null': "but not an error of Core's \\(\\{code, message\\}\\) \\(expected an object, got null\\)",
      'error-text': "but not an error of Core's \\(\\{code, message\\}\\) \\(expected an object, got a string \"unavailable\"\\)",
      'error-empty': "with an empty body, not an error of Core's \\(\\{code, message\\}\\)",
      'error-page': 'with text/html, not JSON',
      'error-express': "but not an error of Core's \\(\\{code, message\\}\\) \\(code: expected a string, got nothing; body .+\\)",
      'error-code-number': "but not an error of Core's \\(\\{code, message\\}\\) \\(code: expected a string, got number 404; body .+\\)",
    };
    for (const [reply, expected] of Object.entries(said)) {
      const error = await failure(reply, answer);
      const status = REPLIES[reply].status;
      expect({ reply, type: error.constructor.name, exit: exitCodeOf(error), message: error.message }).toEqual({
        reply,
        type: UnexpectedAnswer.name,
        exit: 2,
        message: expect.stringMatching(new RegExp(`^GET ${base.replace(/\./g, '\\.')}/${reply}/some/route answered ${status} ${expected}: is it Core's address \\(PANCHA_URL, --url\\)\\?$`)),
      });
    }
  });

  it("Core's own error is still Core's refusal (exit 1), quoted in one line with nothing a terminal acts on", async () => {
    const error = await failure('core-error', answers.WORKFLOW);
    expect(error).toBeInstanceOf(ApiError);
    expect(exitCodeOf(error)).toBe(1);
    expect(error.message).toBe('Core answered 404 unknown_workflow: no workflow named x\\u000a\\u001b[31mred');
  });
});

describe('shape checks', () => {
  const check = object({
    name: string,
    items: arrayOf(object({ id: string, size: optional(nullable(number)) })),
    counts: recordOf(number),
    'odd key': optional(string),
  });

  it('return the value itself, fields they do not name kept', () => {
    const value = { name: 'x', items: [{ id: 'a', extra: true }, { id: 'b', size: null }], counts: { a: 1 }, more: [1] };
    expect(check(value, '')).toBe(value);
  });

  it('name where the value differs and what was there', () => {
    const at = (value: unknown) => {
      try {
        check(value, '');
      } catch (error) {
        if (error instanceof ShapeMismatch) return error.message;
        throw error;
      }
      return 'passed';
    };
    expect(at({ name: 'x', items: [{ id: 'a' }, {}], counts: {} })).toBe('items[1].id: expected a string, got nothing');
    expect(at({ name: 'x', items: [{ id: 'a', size: '3' }], counts: {} })).toBe('items[0].size: expected a number, got a string "3"');
    expect(at({ name: 'x', items: [], counts: { 'a b': 'one' } })).toBe('counts["a b"]: expected a number, got a string "one"');
    expect(at({ name: 'x', items: [], counts: {}, 'odd key': 1 })).toBe('["odd key"]: expected a string, got number 1');
    // A parsed `{}` inherits `constructor`: no field of the answer.
    expect(at(JSON.parse('{"items":[],"counts":{}}'))).toBe('name: expected a string, got nothing');
    expect(at({ name: 'x', items: [], counts: [] })).toBe('counts: expected an object, got an array []');
    expect(at({ name: 'x', items: [], counts: {}, extra: 'y' })).toBe('passed');
  });

  it('quote what was found in one short line, with nothing a terminal acts on', () => {
    expect(describeValue('a\nb\u001b[2J\u2028')).toBe('a string "a\\nb\\u001b[2J\\u2028"');
    expect(excerpt({ text: 'x'.repeat(200) })).toHaveLength(80);
    expect(excerpt('\u009b31m')).toBe('"\\u009b31m"');
  });
});
