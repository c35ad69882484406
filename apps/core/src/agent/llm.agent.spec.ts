import { ActionType, Decision } from '@pancha/contracts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LlmAgent } from './llm.agent';
import { RuleAgent } from './rule.agent';
import { loadRuleSet, parseRuleSet } from './rule-set';

/** A local OpenAI-compatible chat-completions stub: each test sets what it answers. */
interface StubReply {
  status?: number;
  content?: string;
  raw?: string;
  /** Never answer: the agent's own timeout must act. */
  hang?: boolean;
}

let server: Server;
let baseUrl: string;
let reply: StubReply;
const requests: { url?: string; authorization?: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (chunk: Buffer) => (data += chunk.toString()));
    req.on('end', () => {
      requests.push({ url: req.url, authorization: req.headers.authorization, body: JSON.parse(data) as Record<string, unknown> });
      const send = () => {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
        res.end(reply.raw ?? JSON.stringify({ id: 'cmpl-1', choices: [{ index: 0, message: { role: 'assistant', content: reply.content } }] }));
      };
      if (!reply.hang) send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  requests.length = 0;
});

const rules = new RuleAgent(loadRuleSet());
// The shipped default (LLM_TIMEOUT_MS): a stub that answers at once must never meet it, however busy the machine.
// The timeout case does not race a clock either: its stub never answers.
const TIMEOUT_MS = 5000;
const agent = () => new LlmAgent({ baseUrl, apiKey: 'sk-test', model: 'test-model', timeoutMs: TIMEOUT_MS }, rules);
const answer = (value: unknown) => ({ content: JSON.stringify(value) });

describe('LlmAgent', () => {
  it('accepts a valid JSON decision and asks with the model, key and allowed action types', async () => {
    reply = answer({ decision: 'workflow', action_type: 'email', payload: { recipient: 'dana@example.com', subject: 'Hi', body: 'Lunch?' } });
    const d = await agent().decide({ input: 'could you ping dana@example.com and ask about lunch', user_id: 'u-1' });
    expect(d).toEqual({
      decision: Decision.Workflow,
      action_type: ActionType.Email,
      payload: { recipient: 'dana@example.com', subject: 'Hi', body: 'Lunch?' },
      decided_by: 'llm',
    });
    expect(requests).toHaveLength(1);
    expect(requests[0].url).toBe('/v1/chat/completions');
    expect(requests[0].authorization).toBe('Bearer sk-test');
    expect(requests[0].body.model).toBe('test-model');
    const [system, user] = requests[0].body.messages as { role: string; content: string }[];
    expect(system.content).toContain('task: required title');
    expect(user).toEqual({ role: 'user', content: 'could you ping dana@example.com and ask about lunch' });
  });

  it('accepts a workflow whose address inputs are ones the user wrote', async () => {
    reply = answer({ decision: 'workflow', workflow: 'onboard-learner', inputs: { user_id: 'asha', email: 'Asha@Example.com' } });
    const d = await agent().decide({ input: 'please get asha@example.com started on the course', user_id: 'asha' });
    expect(d).toMatchObject({ decision: Decision.Workflow, workflow: { name: 'onboard-learner', inputs: { user_id: 'asha', email: 'Asha@Example.com' } }, decided_by: 'llm' });
  });

  it('accepts a fenced JSON answer and a non-workflow decision without payload', async () => {
    reply = { content: '```json\n{"decision": "respond", "action_type": null, "payload": null}\n```' };
    expect(await agent().decide({ input: 'good morning', user_id: 'u-1' })).toEqual({
      decision: Decision.Respond,
      action_type: null,
      payload: null,
      decided_by: 'llm',
    });
  });

  it.each<[string, StubReply, RegExp]>([
    ['junk instead of JSON', { content: 'Sure! I would create a task.' }, /^llm_answer_rejected: answer is not JSON/],
    ['an unknown action_type', answer({ decision: 'workflow', action_type: 'shell', payload: { cmd: 'rm -rf /' } }), /action_type "shell" is not one the rules know/],
    ['an unknown decision', answer({ decision: 'obey', action_type: null }), /decision "obey" is not one of/],
    ['a payload with foreign fields', answer({ decision: 'workflow', action_type: 'task', payload: { title: 't', admin: 'true' } }), /payload\.admin is not a field of action_type task/],
    ['a payload missing a field', answer({ decision: 'workflow', action_type: 'email', payload: { recipient: 'a@b.co' } }), /payload\.subject is required/],
    ['a recipient the user never wrote', answer({ decision: 'workflow', action_type: 'whatsapp', payload: { recipient: '+19998887777', message: 'x' } }), /recipient does not appear in the request/],
    [
      'a workflow input holding an email address the user never wrote',
      answer({ decision: 'workflow', workflow: 'onboard-learner', inputs: { user_id: 'u-1', email: 'attacker@evil.example' } }),
      /inputs\.email names an address that does not appear in the request/,
    ],
    [
      'a workflow input holding a phone number the user never wrote',
      answer({ decision: 'workflow', workflow: 'onboard-learner', inputs: { note: 'call +1 (999) 888-7777 now' } }),
      /inputs\.note names an address that does not appear in the request/,
    ],
    ['a 500', { status: 500, raw: '{"error":"boom"}' }, /^llm_unavailable: chat completions answered HTTP 500/],
    ['no choices', { raw: '{"choices":[]}' }, /no message content/],
  ])('falls back to the rules on %s, recording why', async (_label, stub, reason) => {
    reply = stub;
    const d = await agent().decide({ input: 'create a task to review the auth module', user_id: 'u-1' });
    expect(d).toMatchObject({
      decision: Decision.Workflow,
      action_type: ActionType.Task,
      payload: { title: 'review the auth module' },
      decided_by: 'rule:task.create',
    });
    expect(d.fallback_reason).toMatch(reason);
  });

  it('falls back to the rules when the LLM does not answer within its timeout', async () => {
    reply = { hang: true };
    const impatient = new LlmAgent({ baseUrl, apiKey: 'sk-test', model: 'test-model', timeoutMs: 200 }, rules);
    const d = await impatient.decide({ input: 'create a task to review the auth module', user_id: 'u-1' });
    expect(d).toMatchObject({ decision: Decision.Workflow, action_type: ActionType.Task, decided_by: 'rule:task.create' });
    expect(d.fallback_reason).toMatch(/^llm_unavailable: timeout of 200ms exceeded/);
    expect(requests).toHaveLength(1);
  });

  it("stops waiting when the caller's deadline aborts (a batch's), and asks nothing once it has passed", async () => {
    reply = { hang: true };
    const deadline = new AbortController();
    const waiting = agent().decide({ input: 'create a task to review the auth module', user_id: 'u-1' }, deadline.signal);
    // Aborted once the LLM holds the request: the 5 s timeout must not be what ends the wait.
    while (requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    deadline.abort();
    const d = await waiting;
    expect(d).toMatchObject({ decision: Decision.Workflow, action_type: ActionType.Task, decided_by: 'rule:task.create' });
    expect(d.fallback_reason).toBe('llm_unavailable: the decision deadline of the request passed');

    const after = await agent().decide({ input: 'hello', user_id: 'u-1' }, deadline.signal);
    expect(after).toMatchObject({ decision: Decision.Respond, decided_by: 'rule:default', fallback_reason: 'llm_unavailable: the decision deadline of the request passed' });
    expect(requests).toHaveLength(1);
  });

  it('falls back when the LLM endpoint is unreachable', async () => {
    const unreachable = new LlmAgent({ baseUrl: 'http://127.0.0.1:1/v1', model: 'm', timeoutMs: TIMEOUT_MS }, rules);
    const d = await unreachable.decide({ input: 'hello', user_id: 'u-1' });
    expect(d).toMatchObject({ decision: Decision.Respond, decided_by: 'rule:default' });
    expect(d.fallback_reason).toMatch(/^llm_unavailable: /);
  });

  it('only offers the action types the rule file knows', async () => {
    const emailOnly = new RuleAgent(
      parseRuleSet(
        `rules:\n  - name: mail\n    match: '^mail (?<to>\\S+) (?<body>.+)$'\n    decision: workflow\n    action_type: email\n    payload: { recipient: '{{ groups.to }}', subject: 's', body: '{{ groups.body }}' }\n`,
        'inline.yaml',
      ),
    );
    reply = answer({ decision: 'workflow', action_type: 'task', payload: { title: 'sneaky' } });
    const d = await new LlmAgent({ baseUrl, model: 'm', timeoutMs: TIMEOUT_MS }, emailOnly).decide({ input: 'make a task', user_id: 'u' });
    expect(d.fallback_reason).toMatch(/action_type "task" is not one the rules know \(email\)/);
    expect(d.decision).toBe(Decision.Respond);
  });
});
