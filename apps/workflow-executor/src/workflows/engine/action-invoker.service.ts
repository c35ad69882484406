import { Injectable, Logger } from '@nestjs/common';
import { ExecutorErrorCode, type PluginSource, type WorkflowPayload } from '@pancha/contracts';
import { type ActionCommand, type ActionResult, EngineErrorCode, engineError, type RunRecord, timerDelay } from '@pancha/workflow-engine';
import type { ActionDeclaration } from '@pancha/plugin-sdk';
import { findUnstorableJson, toStorableJson } from '@pancha/service-kit';
import type { JsonSchema, WorkflowManifest } from '@pancha/workflow-manifest';
import type { ActionAdapter } from '../../adapters/action-adapter';
import type { ActionRow } from '../../adapters/action-rows';
import { AiAdapter } from '../../adapters/ai.adapter';
import { EmailAdapter } from '../../adapters/email.adapter';
import { TaskAdapter } from '../../adapters/task.adapter';
import { WhatsappAdapter } from '../../adapters/whatsapp.adapter';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { HttpAction } from './http.action';

/** What an action attempt produced, plus the rows it consists of (written with the step's completion). */
export interface InvokedAction {
  result: ActionResult;
  rows?: readonly ActionRow[];
}

export interface ActionRunContext {
  run: RunRecord;
  manifest: WorkflowManifest;
  /** `<run_id>:<step path>`: the same for every attempt of the step; handed to the provider. */
  idempotencyKey: string;
  /** Aborted on the attempt's timeout or when the run or step is cancelled. */
  signal: AbortSignal;
  timeoutMs: number;
  secrets: Readonly<Record<string, string>>;
}

/**
 * An action the engine can run, registered through `ActionInvoker.register`: the built-ins (task, email, whatsapp,
 * ai, http; in-process) and plugins (in worker threads) alike, each described by the SDK's `ActionDeclaration`.
 */
export interface ExecutorAction {
  readonly name: string;
  readonly version: string;
  readonly inputSchema?: JsonSchema;
  readonly declaration: ActionDeclaration;
  readonly source: PluginSource;
  /** Directory plugins: the file, relative to PLUGINS_DIR. */
  readonly file?: string;
  /** Set when the plugin did not load: every step using it fails with plugin_load_failed. */
  readonly loadError?: string;
  /**
   * Its whole effect is the rows it answers, and it does no I/O (the task action). A run's worker performs such an
   * action as soon as a round starts it and writes the attempt's start and end in that same round: a crash before
   * the round commits leaves no trace of the attempt, so there is nothing to recover and nothing can happen twice.
   */
  readonly local?: boolean;
  run(input: Record<string, unknown>, ctx: ActionRunContext): Promise<InvokedAction>;
}

/** The built-in adapters, declared with the plugin SDK's types (their `with` is checked by the adapter itself). */
export const BUILTIN_DECLARATIONS: Record<'task' | 'email' | 'whatsapp' | 'ai', ActionDeclaration> = {
  task: { name: 'task', version: 'builtin', description: 'Creates a task row (title, description) for the run’s user', secrets: [] },
  email: { name: 'email', version: 'builtin', description: 'Sends an email over SMTP_URL (or to the capture outbox)', retryableCodes: ['adapter_timeout', 'adapter_execution_failed'], secrets: [] },
  whatsapp: { name: 'whatsapp', version: 'builtin', description: 'Sends a WhatsApp message through the Cloud API (or to the capture outbox)', retryableCodes: ['adapter_timeout', 'adapter_execution_failed'], secrets: [] },
  ai: { name: 'ai', version: 'builtin', description: 'Asks the OpenAI-compatible model at AI_BASE_URL', retryableCodes: ['adapter_timeout', 'adapter_execution_failed'], secrets: [] },
};

/** Codes a repeat cannot fix: a missing field stays missing, an unconfigured provider stays unconfigured. */
const TERMINAL_CODES: ReadonlySet<string> = new Set([
  ExecutorErrorCode.MissingActionType,
  ExecutorErrorCode.UnsupportedActionType,
  ExecutorErrorCode.MissingRecipient,
  ExecutorErrorCode.MissingMessage,
  ExecutorErrorCode.MissingSubject,
  ExecutorErrorCode.MissingBody,
  ExecutorErrorCode.MissingPrompt,
  ExecutorErrorCode.MissingTaskTitle,
  ExecutorErrorCode.ProviderNotConfigured,
]);

export function isRetryableCode(code: string): boolean {
  return !TERMINAL_CODES.has(code);
}

/**
 * Runs one action attempt for the engine: checks the manifest allows it, finds it, bounds it by its timeout and
 * the run's cancellation, and classifies its failure as retryable or terminal.
 */
@Injectable()
export class ActionInvoker {
  private readonly logger = new Logger(ActionInvoker.name);
  private readonly actions = new Map<string, ExecutorAction>();

  constructor(
    private readonly config: WorkflowExecutorConfig,
    task: TaskAdapter,
    email: EmailAdapter,
    whatsapp: WhatsappAdapter,
    ai: AiAdapter,
    http: HttpAction,
  ) {
    for (const adapter of [task, email, whatsapp, ai] as ActionAdapter[]) this.register(adapterAction(adapter));
    this.register(http);
  }

  register(action: ExecutorAction): void {
    if (this.actions.has(action.name)) throw new Error(`Two actions named "${action.name}"`);
    this.actions.set(action.name, action);
  }

  /** A new version of a registered action (a plugin reload): new attempts get it, running ones keep the old. */
  replace(action: ExecutorAction): void {
    if (!this.actions.has(action.name)) throw new Error(`No action named "${action.name}" to replace`);
    this.actions.set(action.name, action);
  }

  /** A plugin gone from PLUGINS_DIR: steps naming it fail with unknown_action from now on. */
  unregister(name: string): void {
    this.actions.delete(name);
  }

  has(name: string): boolean {
    return this.actions.has(name);
  }

  /** See ExecutorAction.local. */
  isLocal(name: string): boolean {
    return this.actions.get(name)?.local === true;
  }

  /** Every registered action (built-ins first, then plugins), for the plugins API. */
  list(): ExecutorAction[] {
    return [...this.actions.values()];
  }

  get(name: string): ExecutorAction | undefined {
    return this.actions.get(name);
  }

  /** Names and input schemas, for the registry's validation of manifests. */
  catalog(): ReadonlyMap<string, { inputSchema?: JsonSchema; version: string }> {
    return new Map([...this.actions.values()].map((a) => [a.name, { inputSchema: a.inputSchema, version: a.version }]));
  }

  async invoke(
    command: ActionCommand,
    ctx: { run: RunRecord; manifest: WorkflowManifest; signal: AbortSignal; secrets: Readonly<Record<string, string>> },
  ): Promise<InvokedAction> {
    if (!ctx.manifest.security.actions.includes(command.action)) {
      return fail(engineError(EngineErrorCode.ActionNotAllowed, `action ${command.action} is not in security.actions of ${ctx.manifest.name}`));
    }
    const action = this.actions.get(command.action);
    if (!action) return fail(engineError(EngineErrorCode.UnknownAction, `no action named ${command.action} is registered`));
    const input = command.input;
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return fail(engineError(EngineErrorCode.ExpressionFailed, `the with of step ${command.step_id} must be a mapping`));
    }
    // Beyond a timer's reach (about 24.8 days) Node would fire at once: such an attempt is bounded by that reach.
    const timeoutMs = timerDelay(command.timeout_ms ?? this.config.ADAPTER_TIMEOUT_MS);
    const timeout = new AbortController();
    const signal = AbortSignal.any([ctx.signal, timeout.signal]);
    let timer: NodeJS.Timeout | undefined;
    const stopped = new Promise<InvokedAction>((resolve) => {
      const finish = (): void =>
        resolve(
          ctx.signal.aborted
            ? fail(engineError(EngineErrorCode.Cancelled, `step ${command.step_id} was cancelled`))
            : fail({ code: ExecutorErrorCode.AdapterTimeout, message: `the action did not complete within ${timeoutMs} ms`, retryable: true }),
        );
      timer = setTimeout(() => {
        timeout.abort();
        finish();
      }, timeoutMs);
      signal.addEventListener('abort', finish, { once: true });
    });
    const ran = action
      .run(input as Record<string, unknown>, {
        run: ctx.run,
        manifest: ctx.manifest,
        idempotencyKey: command.idempotency_key,
        signal,
        timeoutMs,
        secrets: ctx.secrets,
      })
      .catch((error: unknown): InvokedAction => {
        this.logger.error({ msg: 'action threw', action: command.action, run_id: ctx.run.id, step: command.path, error: (error as Error)?.message });
        return fail({ code: ExecutorErrorCode.AdapterExecutionFailed, message: `${command.action} failed unexpectedly`, retryable: true });
      });
    try {
      return storable(await Promise.race([ran, stopped]));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Deepest action output stored as it is; a provider's reply nested deeper fails its step (PostgreSQL's jsonb would). */
const MAX_OUTPUT_DEPTH = 64;

/**
 * The attempt's result as the run's tables can hold it: a provider's reply (or error message) may carry U+0000 or
 * unpaired surrogates, which become U+FFFD. Left as they were, the round writing them would fail and the attempt be
 * run again, its effect repeated, until the run gave up. An output nesting too deep or holding a non-finite number
 * fails the step instead (not retryable: the provider would answer the same).
 */
function storable(invoked: InvokedAction): InvokedAction {
  const result = toStorableJson(invoked.result, MAX_OUTPUT_DEPTH + 2);
  if (result.ok) {
    const problems = findUnstorableJson(result.output, MAX_OUTPUT_DEPTH);
    if (problems.length > 0) {
      const where = problems[0].field === '(body)' ? 'the output' : `output.${problems[0].field}`;
      return { ...invoked, result: { ok: false, error: engineError(EngineErrorCode.OutputInvalid, `the action's output cannot be stored: ${where} ${problems[0].messages[0]}`) } };
    }
  }
  return { ...invoked, result };
}

function fail(error: { code: string; message: string; retryable: boolean }): InvokedAction {
  return { result: { ok: false, error } };
}

/** A built-in adapter (task, email, whatsapp, ai) seen as an engine action: `with` is its payload. */
function adapterAction(adapter: ActionAdapter): ExecutorAction {
  const declaration = BUILTIN_DECLARATIONS[adapter.actionType as keyof typeof BUILTIN_DECLARATIONS] ?? { name: adapter.actionType, version: 'builtin' };
  return {
    name: adapter.actionType,
    version: 'builtin',
    declaration,
    source: 'builtin',
    local: adapter.local,
    async run(input, ctx) {
      const parsed = adapter.parse({ ...input, action_type: adapter.actionType } as WorkflowPayload);
      if (!parsed.ok) return fail({ code: parsed.failure.error_code, message: parsed.failure.message, retryable: false });
      const outcome = await adapter.execute(parsed.input, {
        traceId: ctx.run.trace_id,
        userId: ctx.run.user_id,
        product: ctx.run.product,
        signal: ctx.signal,
        timeoutMs: ctx.timeoutMs,
        idempotencyKey: ctx.idempotencyKey,
      });
      if (outcome.success) return { result: { ok: true, output: outcome.result }, rows: outcome.rows };
      return fail({ code: outcome.error_code, message: outcome.message, retryable: outcome.retryable ?? isRetryableCode(outcome.error_code) });
    },
  };
}
