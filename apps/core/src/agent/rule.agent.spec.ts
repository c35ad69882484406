import { ActionType, Decision } from '@pancha/contracts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RuleAgent } from './rule.agent';
import { DEFAULT_RULES_FILE, loadRuleSet, parseRuleSet, RuleFileError } from './rule-set';
import { renderTemplate } from './template';

const agent = new RuleAgent(loadRuleSet(DEFAULT_RULES_FILE));
const decide = (input: string, extra: { product?: string } = {}) => agent.decide({ input, user_id: 'u-1', ...extra });

describe('RuleAgent with the shipped rules.yaml', () => {
  it('knows the four action types', () => {
    expect(agent.ruleSet.actionTypes.sort()).toEqual([ActionType.Ai, ActionType.Email, ActionType.Task, ActionType.Whatsapp].sort());
  });

  it.each([
    ['create a task to review the auth module', 'task.create', { title: 'review the auth module', description: 'create a task to review the auth module' }],
    ['Please add a new task: fix the login page.', 'task.create', { title: 'fix the login page', description: 'Please add a new task: fix the login page.' }],
    ['remind me to call the bank', 'task.remind', { title: 'call the bank', description: 'remind me to call the bank' }],
    ['todo: renew the TLS certificate', 'task.todo', { title: 'renew the TLS certificate', description: 'todo: renew the TLS certificate' }],
  ])('task: %s', async (input, rule, payload) => {
    expect(await decide(input)).toEqual({ decision: Decision.Workflow, action_type: ActionType.Task, payload, decided_by: `rule:${rule}` });
  });

  it.each([
    [
      'email alice@example.com about the launch: it moves to Friday',
      'email.about',
      { recipient: 'alice@example.com', subject: 'the launch', body: 'it moves to Friday' },
    ],
    [
      'send an email to bob@example.com saying see you at noon',
      'email.saying',
      { recipient: 'bob@example.com', subject: 'Message from Pancha', body: 'see you at noon' },
    ],
    [
      'Send an email to bob@example.com about lunch saying see you at 12:30',
      'email.saying',
      { recipient: 'bob@example.com', subject: 'lunch', body: 'see you at 12:30' },
    ],
    [
      'email carol@example.org about Q3 numbers:\nrevenue is up\ncosts are down',
      'email.about',
      { recipient: 'carol@example.org', subject: 'Q3 numbers', body: 'revenue is up\ncosts are down' },
    ],
  ])('email: %s', async (input, rule, payload) => {
    expect(await decide(input)).toEqual({ decision: Decision.Workflow, action_type: ActionType.Email, payload, decided_by: `rule:${rule}` });
  });

  it.each([
    ['whatsapp +15551234567 on my way', 'whatsapp.direct', { recipient: '+15551234567', message: 'on my way' }],
    ['WhatsApp +15551234567: running late, start without me', 'whatsapp.direct', { recipient: '+15551234567', message: 'running late, start without me' }],
    ['send a whatsapp to +15551234567 saying the build is green', 'whatsapp.saying', { recipient: '+15551234567', message: 'the build is green' }],
  ])('whatsapp: %s', async (input, rule, payload) => {
    expect(await decide(input)).toEqual({ decision: Decision.Workflow, action_type: ActionType.Whatsapp, payload, decided_by: `rule:${rule}` });
  });

  it.each([
    ['ask ai what a hash chain is', 'ai.ask', 'what a hash chain is'],
    ['Ask the AI: to list three risks of this plan', 'ai.ask', 'list three risks of this plan'],
    ['summarize the incident report from last night', 'ai.summarize-explain', 'summarize the incident report from last night'],
    ['Explain the outbox pattern', 'ai.summarize-explain', 'Explain the outbox pattern'],
  ])('ai: %s', async (input, rule, prompt) => {
    expect(await decide(input)).toEqual({ decision: Decision.Workflow, action_type: ActionType.Ai, payload: { prompt }, decided_by: `rule:${rule}` });
  });

  it.each(['hello there', 'what time is it?', 'email me later', 'whatsapp bob hello', 'asking around'])(
    'anything else is respond with no workflow: %s',
    async (input) => {
      expect(await decide(input)).toEqual({ decision: Decision.Respond, action_type: null, payload: null, decided_by: 'rule:default' });
    },
  );

  it('matches case-insensitively and ignores surrounding whitespace', async () => {
    const d = await decide('   CREATE A TASK TO Ship It   ');
    expect(d.action_type).toBe(ActionType.Task);
    expect(d.payload?.title).toBe('Ship It');
  });

  it('lets the first matching rule win', async () => {
    // "remind me to email …" is a reminder (a task), not an email.
    const d = await decide('remind me to email alice@example.com about the launch: it moved');
    expect(d.decided_by).toBe('rule:task.remind');
  });
});

describe('RuleAgent on hostile input', () => {
  // Each of these held Core's event loop for seconds to minutes before the input was normalized
  // (nested \s+ / free-text groups backtracking over a run of spaces). 10 000 characters is the API's limit.
  const filler = (unit: string) => unit.repeat(Math.floor(9000 / unit.length));
  const hostile = [
    `email a@b about ${filler(' ')}x`,
    `email a@b about ${filler(' \t\n')}x`,
    `send an email to a@b about ${filler('x ')}saying`,
    `send an email to a@b about ${filler(' ')}x saying${filler(' ')}`,
    `email ${filler('a')}@${filler('b')} about x`,
    `whatsapp +15551234567${filler(' ')}`,
    `send a whatsapp to +15551234567 saying${filler(' ')}`,
    `remind me to${filler(' ')}x`,
    `ask ai${filler(' ')}`,
    filler('email a@b about x '),
  ];

  it.each(hostile.map((text, i) => [i, text]))('decides hostile input %i in linear time', (_i, text) => {
    // CPU time of this process, not wall-clock time: a busy machine stretches the latter, never the former.
    const started = process.cpuUsage();
    agent.decideSync({ input: text as string, user_id: 'u-1' });
    const used = process.cpuUsage(started);
    // The linear matcher takes a few milliseconds; the backtracking one took from 0.4 s to minutes of CPU.
    expect((used.user + used.system) / 1000).toBeLessThan(250);
  });

  it('reads a command whatever its spacing, keeping the lines of a body', async () => {
    expect(await decide('email alice@example.com\n  about the launch:\n\n it moves   to Friday')).toMatchObject({
      action_type: ActionType.Email,
      payload: { recipient: 'alice@example.com', subject: 'the launch', body: 'it moves to Friday' },
    });
  });
});

describe('templates', () => {
  const ctx = { input: 'hi', user_id: 'u-7', product: 'gurukul', groups: { who: ' bob ' } };

  it('renders input, user_id, product and trimmed named groups', () => {
    expect(renderTemplate('{{ input }} from {{user_id}} in {{ product }} to {{ groups.who }}', ctx)).toBe('hi from u-7 in gurukul to bob');
  });

  it('uses the default for an empty or absent value', () => {
    expect(renderTemplate('{{ groups.missing | default("none") }}/{{ input_type | default("text") }}', ctx)).toBe('none/text');
  });

  it('renders rule payloads with user_id and product', async () => {
    const rules = parseRuleSet(
      `rules:
  - name: ping
    match: '^ping (?<who>\\S+)$'
    decision: workflow
    action_type: task
    payload:
      title: 'ping {{ groups.who }} for {{ user_id }}'
      description: '{{ product | default("no product") }}: {{ input }}'
`,
      'inline.yaml',
    );
    const d = await new RuleAgent(rules).decide({ input: 'ping carol', user_id: 'u-9', product: 'gurukul' });
    expect(d.payload).toEqual({ title: 'ping carol for u-9', description: 'gurukul: ping carol' });
    const noProduct = await new RuleAgent(rules).decide({ input: 'ping carol', user_id: 'u-9' });
    expect(noProduct.payload?.description).toBe('no product: ping carol');
  });
});

describe('invalid rule files are rejected with the rule named', () => {
  const rule = (fields: string) => `rules:\n  - name: good\n    match: '^x$'\n    decision: respond\n  - name: bad.one\n${fields}`;
  const expectRejected = (text: string, ...fragments: string[]) => {
    let error: unknown;
    try {
      parseRuleSet(text, 'rules.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RuleFileError);
    const message = (error as Error).message;
    expect(message).toContain('Invalid rule file rules.yaml');
    for (const fragment of fragments) expect(message).toContain(fragment);
  };

  it('an invalid regular expression', () => {
    expectRejected(rule(`    match: '^(unclosed'\n    decision: respond\n`), 'rule "bad.one" (#2)', 'match is not a valid regular expression');
  });

  it('an unknown action_type', () => {
    expectRejected(
      rule(`    match: '^x'\n    decision: workflow\n    action_type: fax\n    payload: { number: '1' }\n`),
      'rule "bad.one" (#2): action_type must be one of: task, email, whatsapp, ai',
    );
  });

  it('a template naming a group the pattern does not have', () => {
    expectRejected(
      rule(`    match: '^do (?<what>.+)$'\n    decision: workflow\n    action_type: task\n    payload: { title: '{{ groups.who }}' }\n`),
      'rule "bad.one" (#2): payload.title uses {{ groups.who }} but match has no named group "who"',
    );
  });

  it('a payload missing a required field or carrying a foreign one', () => {
    expectRejected(
      rule(`    match: '^mail (?<to>\\S+)$'\n    decision: workflow\n    action_type: email\n    payload: { recipient: '{{ groups.to }}', subject: 's', cc: 'x' }\n`),
      'rule "bad.one" (#2): payload.body is required for action_type email',
      'payload.cc is not a field of action_type email',
    );
  });

  it('an unknown variable, a malformed placeholder, an unknown key, a bad decision', () => {
    expectRejected(
      rule(`    match: '^x'\n    decision: workflow\n    action_type: ai\n    payload: { prompt: '{{ secret }}' }\n`),
      'payload.prompt uses unknown variable {{ secret }}',
    );
    expectRejected(rule(`    match: '^x'\n    decision: workflow\n    action_type: ai\n    payload: { prompt: '{{ input' }\n`), 'malformed placeholder');
    expectRejected(rule(`    match: '^x'\n    decision: respond\n    paylod: {}\n`), 'rule "bad.one" (#2): unknown key "paylod"');
    expectRejected(rule(`    match: '^x'\n    decision: launch\n`), 'rule "bad.one" (#2): decision must be one of');
    expectRejected(rule(`    match: '^x'\n    decision: respond\n    action_type: task\n`), 'only for decision "workflow"');
  });

  it('duplicate names, an empty list, YAML that does not parse, a missing file', () => {
    expectRejected(rule(`    match: '^y'\n    decision: respond\n  - name: bad.one\n    match: '^z'\n    decision: respond\n`), 'rule "bad.one" (#3): name is used by an earlier rule');
    expectRejected('rules: []\n', '`rules` must be a non-empty list');
    expectRejected('rules: [\n', 'is not valid YAML');
    const dir = mkdtempSync(path.join(tmpdir(), 'core-rules-'));
    expect(() => loadRuleSet(path.join(dir, 'absent.yaml'))).toThrow(/Invalid rule file .*absent\.yaml:\n {2}cannot be read/);
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, rule(`    match: '['\n    decision: respond\n`));
    expect(() => loadRuleSet(file)).toThrow(/rule "bad\.one" \(#2\): match is not a valid regular expression/);
  });
});
