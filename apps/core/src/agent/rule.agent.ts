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
    const text = input.input.trim();
    for (const rule of this.ruleSet.rules) {
      const match = rule.pattern?.exec(text);
      if (match) return this.apply(rule, input, text, match.groups ?? {});
    }
    return this.apply(this.ruleSet.fallback, input, text, {});
  }

  private apply(rule: Rule, input: AgentInput, text: string, groups: Record<string, string | undefined>): AgentDecision {
    let payload: Record<string, string> | null = null;
    if (rule.payload) {
      const ctx = { input: text, input_type: input.input_type, user_id: input.user_id, product: input.product, groups };
      payload = Object.fromEntries(Object.entries(rule.payload).map(([field, template]) => [field, renderTemplate(template, ctx)]));
    }
    return { decision: rule.decision, action_type: rule.action_type, payload, decided_by: `rule:${rule.name}` };
  }
}
