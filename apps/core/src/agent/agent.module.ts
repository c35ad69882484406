import { type DynamicModule, Logger, Module } from '@nestjs/common';
import type { CoreConfig } from '../config/env.validation';
import { DecisionAgent } from './decision-agent';
import { LlmAgent } from './llm.agent';
import { RuleAgent } from './rule.agent';
import { DEFAULT_RULES_FILE, loadRuleSet } from './rule-set';

/** Chooses the DecisionAgent from config. The rule file is loaded and validated here, at start. */
export function selectDecisionAgent(config: CoreConfig, rules: RuleAgent, logger = new Logger('AgentModule')): DecisionAgent {
  if (config.CORE_AGENT === 'llm') {
    if (config.LLM_BASE_URL) {
      logger.log({ msg: 'decision agent: llm (rules as fallback)', model: config.LLM_MODEL, rules: rules.ruleSet.source });
      return new LlmAgent(
        { baseUrl: config.LLM_BASE_URL, apiKey: config.LLM_API_KEY, model: config.LLM_MODEL, timeoutMs: config.LLM_TIMEOUT_MS },
        rules,
      );
    }
    logger.warn({ msg: 'CORE_AGENT=llm but LLM_BASE_URL is not set: deciding with the rules' });
  }
  logger.log({ msg: 'decision agent: rules', rules: rules.ruleSet.source, count: rules.ruleSet.rules.length });
  return rules;
}

@Module({})
export class AgentModule {
  static forRoot(config: CoreConfig): DynamicModule {
    return {
      module: AgentModule,
      providers: [
        { provide: RuleAgent, useFactory: () => new RuleAgent(loadRuleSet(config.CORE_RULES_FILE ?? DEFAULT_RULES_FILE)) },
        { provide: DecisionAgent, useFactory: (rules: RuleAgent) => selectDecisionAgent(config, rules), inject: [RuleAgent] },
      ],
      exports: [DecisionAgent],
    };
  }
}
