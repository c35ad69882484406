import { Logger } from '@nestjs/common';
import { type ActionType, Decision, isActionType } from '@pancha/contracts';
import axios from 'axios';
import { ACTION_PAYLOAD_FIELDS, validateActionPayload } from './action-payload';
import { type AgentDecision, type AgentInput, DecisionAgent } from './decision-agent';
import type { RuleAgent } from './rule.agent';

export interface LlmAgentOptions {
  /** OpenAI-compatible API base, e.g. https://api.openai.com/v1. */
  baseUrl: string;
  apiKey?: string;
  model: string;
  timeoutMs: number;
}

/** Why an LLM answer was not used; becomes the task's fallback_reason. */
export class LlmAnswerRejected extends Error {}

/** Why the rules decided when the caller's deadline for its decisions (a batch's) passed. */
const DEADLINE_PASSED = 'the decision deadline of the request passed';

const MAX_ANSWER_CHARS = 32_000;
const MAX_WORKFLOW_INPUTS = 32;
const MAX_INPUT_CHARS = 4_000;

/**
 * Asks an OpenAI-compatible chat-completions API for the decision, then treats the answer as untrusted
 * input (SPEC T6, AI output never gains authority): it may only pick a decision from the enum and an action
 * type the rule file knows, with exactly that action's fields, and a message recipient must be one the user
 * wrote. Anything else (an error, a timeout, junk, a forbidden choice) and the rules decide instead.
 */
export class LlmAgent extends DecisionAgent {
  private readonly logger = new Logger(LlmAgent.name);

  constructor(
    private readonly options: LlmAgentOptions,
    private readonly rules: RuleAgent,
  ) {
    super();
  }

  async decide(input: AgentInput, deadline?: AbortSignal): Promise<AgentDecision> {
    try {
      if (deadline?.aborted) throw new Error(DEADLINE_PASSED);
      const answer = await this.ask(input, deadline);
      return this.interpret(answer, input);
    } catch (error) {
      const reason =
        error instanceof LlmAnswerRejected
          ? `llm_answer_rejected: ${error.message}`
          : `llm_unavailable: ${deadline?.aborted ? DEADLINE_PASSED : describe(error)}`;
      this.logger.warn({ msg: 'LLM agent fell back to the rules', reason });
      return { ...this.rules.decideSync(input), fallback_reason: reason };
    }
  }

  private get allowedActionTypes(): ActionType[] {
    return this.rules.ruleSet.actionTypes;
  }

  private systemPrompt(): string {
    const actions = this.allowedActionTypes
      .map((t) => {
        const shape = ACTION_PAYLOAD_FIELDS[t];
        return `- ${t}: required ${shape.required.join(', ')}${shape.optional.length ? `; optional ${shape.optional.join(', ')}` : ''}`;
      })
      .join('\n');
    return [
      'You are the decision engine of a task service. Classify the user request.',
      'Reply with one JSON object only, no prose: {"decision": ..., "action_type": ..., "payload": {...}}.',
      `decision is one of: ${Object.values(Decision).join(', ')}. Use "workflow" only when the request asks for one of the actions below;`,
      'otherwise use "respond" with action_type null and payload null.',
      'For "workflow", action_type and payload fields (all strings, taken from the request) are:',
      actions,
      ...(this.rules.ruleSet.workflows.length > 0
        ? [
            'Or, to start one of these versioned workflows instead of one action, reply',
            '{"decision": "workflow", "workflow": <name>, "inputs": {<string fields taken from the request>}} with <name> one of:',
            this.rules.ruleSet.workflows.map((w) => `- ${w}`).join('\n'),
          ]
        : []),
    ].join('\n');
  }

  private async ask(input: AgentInput, deadline?: AbortSignal): Promise<string> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    const res = await axios.post(
      url,
      {
        model: this.options.model,
        temperature: 0,
        response_format: { type: 'json_object' },
        messages: [
          { role: 'system', content: this.systemPrompt() },
          { role: 'user', content: input.input },
        ],
      },
      {
        timeout: this.options.timeoutMs,
        ...(deadline ? { signal: deadline } : {}),
        headers: this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {},
        validateStatus: () => true,
        // Bounds what a misbehaving endpoint can make us buffer.
        maxContentLength: 1024 * 1024,
      },
    );
    if (res.status !== 200) throw new Error(`chat completions answered HTTP ${res.status}`);
    const content = (res.data as { choices?: { message?: { content?: unknown } }[] } | undefined)?.choices?.[0]?.message?.content;
    if (typeof content !== 'string' || content.trim() === '') throw new LlmAnswerRejected('no message content in the reply');
    return content;
  }

  private interpretWorkflow(answer: Record<string, unknown>, input: AgentInput): AgentDecision {
    return interpretWorkflowAnswer(answer, this.rules.ruleSet.workflows, input.input);
  }

  /** Exported behaviour for tests through decide(); kept strict on purpose. */
  private interpret(content: string, input: AgentInput): AgentDecision {
    if (content.length > MAX_ANSWER_CHARS) throw new LlmAnswerRejected(`answer longer than ${MAX_ANSWER_CHARS} characters`);
    // Some models wrap JSON in a markdown fence even when told not to.
    const text = content.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new LlmAnswerRejected('answer is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new LlmAnswerRejected('answer is not a JSON object');
    const answer = parsed as Record<string, unknown>;
    const decision = answer.decision;
    if (!Object.values(Decision).includes(decision as Decision)) {
      throw new LlmAnswerRejected(`decision ${JSON.stringify(decision)} is not one of ${Object.values(Decision).join(', ')}`);
    }
    if (decision !== Decision.Workflow) {
      return { decision: decision as Decision, action_type: null, payload: null, decided_by: 'llm' };
    }

    if (answer.workflow !== undefined && answer.workflow !== null) return this.interpretWorkflow(answer, input);
    const actionType = answer.action_type;
    if (!isActionType(actionType) || !this.allowedActionTypes.includes(actionType)) {
      throw new LlmAnswerRejected(
        `action_type ${JSON.stringify(actionType)} is not one the rules know (${this.allowedActionTypes.join(', ')})`,
      );
    }
    const problems = validateActionPayload(actionType, answer.payload);
    if (problems.length) throw new LlmAnswerRejected(problems.join('; '));
    const payload = Object.fromEntries(
      Object.entries(answer.payload as Record<string, string>).map(([k, v]) => [k, v.trim()]),
    );
    if (payload.recipient !== undefined && !mentions(input.input, payload.recipient)) {
      throw new LlmAnswerRejected('payload.recipient does not appear in the request');
    }
    return { decision: Decision.Workflow, action_type: actionType, payload, decided_by: 'llm' };
  }
}

/**
 * A workflow chosen by the model: only one the rules name, with string inputs (the run checks them against its schema),
 * and, as for an action's recipient, any address among them (an email, a phone number) one the user wrote: a workflow
 * sends mail too, and the model must not pick who gets it.
 */
function interpretWorkflowAnswer(answer: Record<string, unknown>, allowed: readonly string[], text: string): AgentDecision {
  const name = answer.workflow;
  if (typeof name !== 'string' || !allowed.includes(name)) {
    throw new LlmAnswerRejected(`workflow ${JSON.stringify(name)} is not one the rules know (${allowed.join(', ')})`);
  }
  const raw = answer.inputs ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new LlmAnswerRejected('inputs must be an object');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_WORKFLOW_INPUTS || entries.some(([, v]) => typeof v !== 'string' || v.length > MAX_INPUT_CHARS)) {
    throw new LlmAnswerRejected(`inputs must be at most ${MAX_WORKFLOW_INPUTS} string fields of at most ${MAX_INPUT_CHARS} characters`);
  }
  for (const [key, value] of entries) {
    const addresses = [...(value as string).matchAll(ADDRESS)].map((m) => m[0]);
    const unwritten = addresses.find((address) => !mentions(text, address));
    if (unwritten !== undefined) throw new LlmAnswerRejected(`inputs.${key} names an address that does not appear in the request`);
  }
  return {
    decision: Decision.Workflow,
    action_type: null,
    payload: null,
    workflow: { name, inputs: Object.fromEntries(entries.map(([k, v]) => [k, (v as string).trim()])) },
    decided_by: 'llm',
  };
}

/** Email addresses, and phone numbers (a run of at least six digits, with the usual separators). */
const ADDRESS = /[^\s@<>(),;:"']+@[^\s@<>(),;:"']+|\+?\d[\d\s().-]{4,}\d/g;

/** The LLM may route a message only to an address the user typed (digits compared for phone numbers). */
function mentions(text: string, recipient: string): boolean {
  if (text.toLowerCase().includes(recipient.toLowerCase())) return true;
  const digits = recipient.replace(/\D/g, '');
  return digits.length >= 6 && text.replace(/\D/g, '').includes(digits);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
