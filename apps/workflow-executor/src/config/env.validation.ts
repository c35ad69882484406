import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { withOutboxConfig } from '@pancha/outbox';
import { BaseServiceConfig, parseBoolean, Secret } from '@pancha/service-kit';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Max, Min, ValidateIf } from 'class-validator';
import { existsSync } from 'node:fs';
import path from 'node:path';

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

  /** Core, for the `workflow.completed` / `workflow.failed` events published to its router (docs/events.md). */
  @IsOptional() @IsUrl(HTTP_URL)
  CORE_URL = 'http://127.0.0.1:8002';

  /** Publish `workflow.completed` / `workflow.failed` to Core's event router, so a workflow can trigger another. */
  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  WORKFLOW_ROUTER_EVENTS_ENABLED = true;

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

  /** Workflow manifests (`<name>.yaml`); default: `workflows/` at the repository root (found from the code's location). */
  @IsOptional() @IsString()
  WORKFLOWS_DIR?: string;

  /** strict: any error refuses a manifest; permissive: limits/compatibility errors are warnings; audit: nothing refused. */
  @IsOptional() @IsIn(['strict', 'permissive', 'audit'])
  WORKFLOW_VALIDATION_MODE: 'strict' | 'permissive' | 'audit' = 'strict';

  /** Run the durable workflow worker in this process (a replica that only serves the API can turn it off). */
  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  WORKFLOW_WORKER_ENABLED = true;

  /** How long a worker holds a run without renewing; a crashed worker's runs resume after at most this. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(300) @Max(600_000)
  WORKFLOW_LEASE_MS = 5_000;

  /** How often an idle worker looks for due runs (a run started in this process is picked up at once). */
  @IsOptional() @Type(() => Number) @IsInt() @Min(5) @Max(60_000)
  WORKFLOW_POLL_MS = 200;

  /** Runs one worker holds at once (their actions run concurrently). */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000)
  WORKFLOW_MAX_ACTIVE_RUNS = 64;

  /**
   * Hosts an `http` step may call, on top of each manifest's own security.http_hosts (comma-separated; `*.x.com`
   * for subdomains, `*` for any). Empty: no http step can run in this deployment.
   */
  @IsOptional() @IsString()
  WORKFLOW_HTTP_ALLOWED_HOSTS = '';

  /** A YAML/JSON map of secret name → value for manifests' `secrets.<NAME>`; WORKFLOW_SECRET_<NAME> variables win. */
  @IsOptional() @IsString()
  WORKFLOW_SECRETS_FILE?: string;

  /** Watch WORKFLOWS_DIR and reload on change (a debounced `POST /api/workflows/reload`); off: reload only on request. */
  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  WORKFLOWS_WATCH = true;

  /** Quiet time after the last file change before a watched directory is reloaded (editors write in bursts). */
  @IsOptional() @Type(() => Number) @IsInt() @Min(10) @Max(60_000)
  WORKFLOWS_WATCH_DEBOUNCE_MS = 300;

  /** Action plugins (`<name>.js` or `<name>/index.js`); default: `plugins/` at the repository root. */
  @IsOptional() @IsString()
  PLUGINS_DIR?: string;

  /** npm packages that export a plugin (comma-separated), resolved from the executor's node_modules. */
  @IsOptional() @IsString()
  PLUGIN_PACKAGES = '';

  /** Heap limit of each plugin's worker thread; a plugin that allocates past it fails its step with plugin_out_of_memory. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(8) @Max(4096)
  PLUGIN_MAX_MEMORY_MB = 64;

  /** Loaded workers kept warm per plugin version and reused by the next attempt; 0: a fresh worker per attempt. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(64)
  PLUGIN_POOL_SIZE = 2;

  /** A warm plugin worker unused for this long is stopped. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1_000) @Max(86_400_000)
  PLUGIN_POOL_IDLE_MS = 300_000;

  /** Watch PLUGINS_DIR and reload a changed plugin (after WORKFLOWS_WATCH_DEBOUNCE_MS of quiet); off: reload only on request. */
  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  PLUGINS_WATCH = true;

  get workflowsDir(): string {
    return this.WORKFLOWS_DIR ? path.resolve(this.WORKFLOWS_DIR) : defaultWorkflowsDir();
  }

  get pluginsDir(): string {
    return this.PLUGINS_DIR ? path.resolve(this.PLUGINS_DIR) : repositoryDir('plugins');
  }

  get pluginPackages(): string[] {
    return this.PLUGIN_PACKAGES.split(',').map((p) => p.trim()).filter((p) => p !== '');
  }

  get workflowHttpHosts(): string[] {
    return this.WORKFLOW_HTTP_ALLOWED_HOSTS.split(',').map((h) => h.trim()).filter((h) => h !== '');
  }

  get executionLeaseMs(): number {
    return this.EXECUTION_LEASE_MS ?? 2 * this.ADAPTER_TIMEOUT_MS;
  }

  get whatsappConfigured(): boolean {
    return Boolean(this.WHATSAPP_PHONE_NUMBER_ID && this.WHATSAPP_ACCESS_TOKEN);
  }
}

/** `workflows/` beside the repository's package.json, found by walking up from this file (src/ or dist/). */
function defaultWorkflowsDir(): string {
  return repositoryDir('workflows');
}

function repositoryDir(name: string): string {
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return path.resolve(name);
}
