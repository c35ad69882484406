import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { DEFAULT_KARMA_CONFIG_FILE, KarmaConfigError, loadKarmaConfig, validateKarmaConfig } from './karma-config';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed YAML document the tests edit freely
type Doc = Record<string, any>;

function defaults(): Doc {
  return parse(readFileSync(DEFAULT_KARMA_CONFIG_FILE, 'utf8'));
}

function problemsOf(mutate: (doc: Doc) => void): string {
  const doc = defaults();
  mutate(doc);
  try {
    validateKarmaConfig(doc, 'test.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(KarmaConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('karma.config.yaml', () => {
  it('ships the numbers of KARMA.md', () => {
    const cfg = loadKarmaConfig();
    expect(cfg.tokens).toEqual({
      DharmaPoints: { expiryDays: 365, dailyDecay: 0, meritWeight: 1 },
      SevaPoints: { expiryDays: 365, dailyDecay: 0.0005, meritWeight: 1.2 },
      PunyaTokens: { expiryDays: 730, dailyDecay: 0.0001, meritWeight: 3 },
    });
    expect(cfg.paapClasses).toEqual({ minor: { expiryDays: 180, weight: 1 }, medium: { expiryDays: 365, weight: 2.5 }, maha: { expiryDays: 730, weight: 5 } });
    expect(cfg.roles).toEqual([
      { name: 'learner', minMerit: 0 }, { name: 'volunteer', minMerit: 50 }, { name: 'seva', minMerit: 200 }, { name: 'guru', minMerit: 500 },
    ]);
    expect(cfg.progressivePenalties.cheat).toEqual({ token: 'DharmaPoints', windowDays: 30, amounts: [2, 5, 10, 20, 40, 100] });
    expect(cfg.qLearning).toEqual({ alpha: 0.15, gamma: 0.9, epsilon: 0.2 });
    expect(cfg.lokas).toEqual([
      { name: 'Swarga', minNetKarma: 500 }, { name: 'Mrityuloka', minNetKarma: 0 }, { name: 'Antarloka', minNetKarma: -200 }, { name: 'Naraka', minNetKarma: null },
    ]);
    expect(Object.fromEntries(Object.entries(cfg.actions).filter(([, a]) => a.paap).map(([n, a]) => [n, a.paap]))).toEqual({
      cheat: 'medium', disrespect_guru: 'medium', break_promise: 'minor', harm_others: 'maha', false_speech: 'minor', theft: 'medium', violence: 'maha',
    });
    expect(cfg.actionNames).toEqual(expect.arrayContaining([
      'workflow_success', 'workflow_failure', 'deep_focus', 'on_task', 'thinking', 'idle', 'off_task', 'distracted', 'away',
    ]));
  });

  it.each<[string, (d: Doc) => void, string]>([
    ['a negative reward', (d) => (d.actions.helping_peers.reward.amount = -10), 'actions.helping_peers.reward.amount: must not be negative'],
    ['a reward that is not a number', (d) => (d.actions.helping_peers.reward.amount = 'ten'), 'actions.helping_peers.reward.amount: must be a number'],
    ['roles out of order', (d) => (d.roles[2].min_merit = 40), 'roles[2].min_merit: roles must be ordered by threshold'],
    ['an action with neither reward nor paap', (d) => (d.actions.meditate = {}), 'actions.meditate: every action needs a reward, a penalty or a paap class'],
    ['an unknown token', (d) => (d.actions.helping_peers.reward.token = 'Gold'), 'actions.helping_peers.reward.token: must be one of the tokens'],
    ['an unknown paap class', (d) => (d.actions.theft.paap = 'grave'), 'actions.theft.paap: must be one of the paap classes'],
    ['alpha above 1', (d) => (d.q_learning.alpha = 1.5), 'q_learning.alpha: must be at most 1'],
    ['a missing gamma', (d) => delete d.q_learning.gamma, 'q_learning.gamma: is required'],
    ['a decay of 1', (d) => (d.tokens.SevaPoints.daily_decay = 1), 'tokens.SevaPoints.daily_decay: must be less than 1'],
    ['a zero expiry', (d) => (d.tokens.SevaPoints.expiry_days = 0), 'tokens.SevaPoints.expiry_days: must be greater than 0'],
    ['a misspelt key', (d) => (d.q_learnign = {}), 'q_learnign: unknown key'],
    ['an unknown cap', (d) => (d.actions.deep_focus.cap = 'telemetry'), 'actions.deep_focus.cap: must be one of daily_caps'],
    ['a paap class without plan', (d) => delete d.atonement_plans.maha, 'atonement_plans.maha: every paap class needs a plan'],
    ['lokas out of order', (d) => (d.lokas[1].min_net_karma = 600), 'lokas[1].min_net_karma: lokas must be ordered'],
    ['an upper-case action', (d) => (d.actions.Meditate = { reward: { token: 'DharmaPoints', amount: 1 } }), 'actions.Meditate: action names must be lower case'],
  ])('rejects %s, naming the key', (_what, mutate, message) => {
    const text = problemsOf(mutate);
    expect(text).toContain('Invalid Karma configuration test.yaml');
    expect(text).toContain(message);
  });

  it('ships the original executor\'s workflow_failed as an alias of workflow_failure, and checks aliases', () => {
    expect(loadKarmaConfig().actionAliases).toEqual({ workflow_failed: 'workflow_failure' });
    const message = problemsOf((doc) => {
      doc.action_aliases = { teleported: 'teleport', cheat: 'theft', Shouted: 'false_speech' };
    });
    expect(message).toContain('action_aliases.teleported: must name one of the actions');
    expect(message).toContain('action_aliases.cheat: cheat is an action itself');
    expect(message).toContain('action_aliases.Shouted: aliases must be lower case');
  });

  it('reports every problem at once', () => {
    const text = problemsOf((d) => {
      d.q_learning.alpha = -1;
      d.q_learning.gamma = 2;
    });
    expect(text).toContain('q_learning.alpha');
    expect(text).toContain('q_learning.gamma');
  });

  it('loads another file and names it when it is bad', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'karma-config-'));
    const good = path.join(dir, 'good.yaml');
    const doc = defaults();
    doc.actions.helping_peers.reward.amount = 12;
    writeFileSync(good, stringify(doc));
    expect(loadKarmaConfig(good).actions.helping_peers.reward).toEqual({ token: 'SevaPoints', amount: 12 });

    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'tokens: [unclosed');
    expect(() => loadKarmaConfig(bad)).toThrow(`Invalid Karma configuration ${bad}`);
    expect(() => loadKarmaConfig(path.join(dir, 'missing.yaml'))).toThrow('cannot be read');
  });
});
