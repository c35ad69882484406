import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { withOutboxConfig } from '@pancha/outbox';
import { BaseServiceConfig, parseBoolean, Secret } from '@pancha/service-kit';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsNumber, IsOptional, IsPositive, IsString, IsUrl, Max, Min } from 'class-validator';

const SERVICE_URL = { require_tld: false, protocols: ['http', 'https'], require_protocol: true };

export const CORE_AGENTS = ['rule', 'llm'] as const;
export type CoreAgentKind = (typeof CORE_AGENTS)[number];

/** Core's environment, validated once at start (see apps/core/README.md for each variable; OUTBOX_* in libs/outbox). */
export class CoreConfig extends withOutboxConfig(BaseServiceConfig) {
  /** false: workflows are decided and recorded (status dispatch_skipped) but never sent to the executor. */
  @IsOptional() @Transform(parseBoolean) @IsBoolean({ message: 'ENABLE_WORKFLOW_EXECUTION must be true or false' })
  ENABLE_WORKFLOW_EXECUTION = true;

  @IsOptional() @IsUrl(SERVICE_URL, { message: 'WORKFLOW_EXECUTOR_URL must be an http(s) URL' })
  WORKFLOW_EXECUTOR_URL = 'http://127.0.0.1:8003';

  /** Seconds one executor call may take before the outbox counts it as a (retryable) timeout. */
  @IsOptional() @Type(() => Number)
  @IsNumber({}, { message: 'WORKFLOW_TIMEOUT must be a number of seconds' })
  @IsPositive({ message: 'WORKFLOW_TIMEOUT must be a positive number of seconds' })
  WORKFLOW_TIMEOUT = 2;

  @IsOptional() @IsUrl(SERVICE_URL, { message: 'BUCKET_URL must be an http(s) URL' })
  BUCKET_URL = 'http://127.0.0.1:8001';

  @IsOptional() @IsUrl(SERVICE_URL, { message: 'KARMA_URL must be an http(s) URL' })
  KARMA_URL = 'http://127.0.0.1:8000';

  /** YAML rule file of the RuleAgent; default: agent/rules.yaml beside the code. */
  @IsOptional() @IsString()
  CORE_RULES_FILE?: string;

  @IsOptional() @IsIn(CORE_AGENTS, { message: `CORE_AGENT must be one of: ${CORE_AGENTS.join(', ')}` })
  CORE_AGENT: CoreAgentKind = 'rule';

  /** OpenAI-compatible API base, e.g. https://api.openai.com/v1 (POST {base}/chat/completions). */
  @IsOptional() @IsUrl(SERVICE_URL, { message: 'LLM_BASE_URL must be an http(s) URL' })
  LLM_BASE_URL?: string;

  @Secret() @IsOptional() @IsString()
  LLM_API_KEY?: string;

  @IsOptional() @IsString()
  LLM_MODEL = 'gpt-4o-mini';

  /** How long a decision may wait for the LLM before the rules decide instead (the LLM sits on the request path). */
  @IsOptional() @Type(() => Number)
  @IsInt({ message: 'LLM_TIMEOUT_MS must be an integer number of milliseconds' })
  @Min(100) @Max(120_000)
  LLM_TIMEOUT_MS = 5000;

  /** How often Core refreshes its mirror of the executor's workflow catalog (a 304 when nothing changed). */
  @IsOptional() @Type(() => Number) @IsInt() @Min(50) @Max(600_000)
  WORKFLOW_CATALOG_REFRESH_MS = 1000;

  /**
   * How often Core fetches, checks and keeps Bucket's signed checkpoint (audit witness, apps/core/src/audit-witness);
   * 0 = only when GET /audit/verify is called.
   */
  @IsOptional() @Type(() => Number)
  @IsInt({ message: 'AUDIT_WITNESS_INTERVAL_MS must be an integer number of milliseconds' })
  @Min(0) @Max(86_400_000)
  AUDIT_WITNESS_INTERVAL_MS = 60_000;

  /** Folder of event type schemas (`*.yaml`) for POST /events; default: `events/` at the repository root. */
  @IsOptional() @IsString()
  EVENTS_DIR?: string;

  /** How often the router looks for deferred starts (rate_limit delay, debounce) that are due. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(20) @Max(60_000)
  EVENTS_DEFERRED_POLL_MS = 250;

  /**
   * How deep a chain of runs started by one another's ends may go: a run's workflow.completed / workflow.failed that
   * starts a run whose end starts another… Past it the router starts nothing more (skip `chain_too_deep`).
   */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  EVENTS_MAX_CHAIN_DEPTH = 8;

  /** JetStream transport for the Bucket task events (libs/nats-transport); unset → HTTP. The executor call always stays HTTP. */
  @IsOptional() @IsNatsUrl()
  NATS_URL?: string;

  @IsOptional() @IsNatsStreamName()
  NATS_STREAM = DEFAULT_NATS_STREAM;
}
