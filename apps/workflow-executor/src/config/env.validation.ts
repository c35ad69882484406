import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { withOutboxConfig } from '@pancha/outbox';
import { BaseServiceConfig, parseBoolean, Secret } from '@pancha/service-kit';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, IsUrl, Max, Min, ValidateIf } from 'class-validator';

const HTTP_URL = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

/** Everything the executor reads from its environment, validated once at start (README lists each variable; OUTBOX_* in libs/outbox). */
export class WorkflowExecutorConfig extends withOutboxConfig(BaseServiceConfig) {
  /** Every adapter call (SMTP, WhatsApp, AI) is abandoned after this and fails with adapter_timeout. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(600_000)
  ADAPTER_TIMEOUT_MS = 10_000;

  /**
   * A `running` execution older than this is taken to have died with its process and is closed as
   * adapter_timeout. Default 2 × ADAPTER_TIMEOUT_MS (see executionLeaseMs).
   */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1)
  EXECUTION_LEASE_MS?: number;

  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  WORKFLOW_EVENTS_ENABLED = true;

  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  WORKFLOW_BEHAVIORAL_TRACKING = true;

  @IsOptional() @IsUrl(HTTP_URL)
  BUCKET_URL = 'http://127.0.0.1:8001';

  @IsOptional() @IsUrl(HTTP_URL)
  KARMA_URL = 'http://127.0.0.1:8000';

  /** smtp://user:pass@host:port or smtps://…; unset → email goes to the capture outbox. */
  @Secret() @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['smtp', 'smtps'] })
  SMTP_URL?: string;

  @IsOptional() @IsString()
  EMAIL_FROM = 'Pancha Workflow Executor <no-reply@pancha.local>';

  @IsOptional() @IsUrl(HTTP_URL)
  WHATSAPP_API_BASE_URL = 'https://graph.facebook.com/v21.0';

  @ValidateIf((c: WorkflowExecutorConfig) => c.WHATSAPP_PHONE_NUMBER_ID !== undefined || c.WHATSAPP_ACCESS_TOKEN !== undefined)
  @IsString({ message: 'WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN must be set together' })
  WHATSAPP_PHONE_NUMBER_ID?: string;

  @ValidateIf((c: WorkflowExecutorConfig) => c.WHATSAPP_PHONE_NUMBER_ID !== undefined || c.WHATSAPP_ACCESS_TOKEN !== undefined)
  @IsString({ message: 'WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID must be set together' })
  @Secret()
  WHATSAPP_ACCESS_TOKEN?: string;

  /** OpenAI-compatible base URL (…/v1); unset → the ai adapter fails with provider_not_configured. */
  @IsOptional() @IsUrl(HTTP_URL)
  AI_BASE_URL?: string;

  @Secret() @IsOptional() @IsString()
  AI_API_KEY?: string;

  @ValidateIf((c: WorkflowExecutorConfig) => c.AI_BASE_URL !== undefined)
  @IsString({ message: 'AI_MODEL is required when AI_BASE_URL is set' })
  AI_MODEL?: string;

  /** JetStream transport for the Bucket and Karma events (libs/nats-transport); unset → HTTP. */
  @IsOptional() @IsNatsUrl()
  NATS_URL?: string;

  @IsOptional() @IsNatsStreamName()
  NATS_STREAM = DEFAULT_NATS_STREAM;

  get executionLeaseMs(): number {
    return this.EXECUTION_LEASE_MS ?? 2 * this.ADAPTER_TIMEOUT_MS;
  }

  get whatsappConfigured(): boolean {
    return Boolean(this.WHATSAPP_PHONE_NUMBER_ID && this.WHATSAPP_ACCESS_TOKEN);
  }
}
