import type { AgentDecision, AgentInput } from './decision-agent';
import { DecisionAgent } from './decision-agent';
import type { Rule, RuleSet } from './rule-set';
import { renderTemplate } from './template';

/** The default agent: the first rule of the YAML rule file whose pattern matches decides. Pure and synchronous. */
export class RuleAgent extends DecisionAgent {
  constructor(readonly ruleSet: RuleSet) {
    super();
  }

  async decide(input: AgentInput): Promise<AgentDecision> {
    return this.decideSync(input);
  }

  decideSync(input: AgentInput): AgentDecision {
    // Rules read a command, not its layout: every whitespace run becomes one character. Besides being what
    // the rules mean, this is what keeps them linear: with runs of spaces, `\s+` before a free-text group like
    // (?<subject>[^:\n]+?) can split a run in many ways, and one 10 kB input of spaces held the event loop
    // for minutes (catastrophic backtracking).
    const text = normalizeCommand(input.input);
    for (const rule of this.ruleSet.rules) {
      const match = rule.pattern?.exec(text);
      if (match) return this.apply(rule, input, text, match.groups ?? {});
    }
    return this.apply(this.ruleSet.fallback, input, text, {});
  }

  private apply(rule: Rule, input: AgentInput, text: string, groups: Record<string, string | undefined>): AgentDecision {
    const ctx = { input: text, input_type: input.input_type, user_id: input.user_id, product: input.product, groups };
    const render = (templates: Record<string, string>): Record<string, string> =>
      Object.fromEntries(Object.entries(templates).map(([field, template]) => [field, renderTemplate(template, ctx)]));
    const decided: AgentDecision = {
      decision: rule.decision,
      action_type: rule.action_type,
      payload: rule.payload ? render(rule.payload) : null,
      decided_by: `rule:${rule.name}`,
    };
    if (rule.workflow) {
      decided.workflow = {
        name: rule.workflow.name,
        ...(rule.workflow.version ? { version: rule.workflow.version } : {}),
        inputs: render(rule.workflow.inputs),
      };
    }
    return decided;
  }
}

/**
 * The text rules are matched against: a whitespace run that holds a line break becomes one newline (a
 * multi-line email body keeps its lines), any other run one space; ends trimmed.
 */
export function normalizeCommand(input: string): string {
  return input
    .trim()
    .replace(/\s+/g, (run) => (run.includes('\n') ? '\n' : ' '));
}
