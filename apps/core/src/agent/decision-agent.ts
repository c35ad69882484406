import type { ActionType, Decision } from '@pancha/contracts';

/** What an agent decides about: the task as the user submitted it. */
export interface AgentInput {
  input: string;
  input_type?: string;
  user_id: string;
  product?: string;
  tags?: string[];
}

/** An agent's conclusion. For `workflow`, action_type and payload say what the executor should do. */
export interface AgentDecision {
  decision: Decision;
  action_type: ActionType | null;
  payload: Record<string, string> | null;
  /** A versioned workflow to run instead of one action (action_type and payload are then null). */
  workflow?: { name: string; version?: string; inputs: Record<string, string> };
  /** Which agent decided, and by which rule: `rule:email.about`, `rule:default`, `llm`. */
  decided_by: string;
  /** Set when the LLM agent was asked but the rules decided: why its answer was not used. */
  fallback_reason?: string;
}

/**
 * The pluggable decision maker (CORE_AGENT). An abstract class rather than an interface so Nest can inject
 * it by class; implementations never throw for an input they do not understand, they decide `respond`.
 */
export abstract class DecisionAgent {
  /**
   * `deadline`: once it aborts, an agent that waits on something remote stops waiting and decides by its fallback
   * (a batch of tasks shares one, so its 202 does not wait a timeout per task).
   */
  abstract decide(input: AgentInput, deadline?: AbortSignal): Promise<AgentDecision>;
}
