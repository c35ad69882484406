import type { Logger } from '@nestjs/common';
import { PluginErrorCode, type PluginSource } from '@pancha/contracts';
import type { ActionDeclaration, PluginEntry, PluginPool } from '@pancha/plugin-sdk';
import { injectTraceHeaders } from '@pancha/trace-context';
import { compileJsonSchema, type JsonSchema } from '@pancha/workflow-manifest';
import type { ActionRunContext, ExecutorAction, InvokedAction } from '../engine/action-invoker.service';
import type { WorkflowSecrets } from '../registry/workflow-secrets';

type Validator = ReturnType<typeof compileJsonSchema>;

/**
 * A loaded plugin version as an engine action: the input is checked against its schema here, the attempt runs on
 * a worker of the version's pool (a warm one when there is one), and the output is checked before it is stored.
 * Only declared secrets cross over. A reload replaces the whole object (and closes its pool once idle).
 */
export class PluginAction implements ExecutorAction {
  readonly name: string;
  readonly version: string;
  readonly inputSchema?: JsonSchema;
  readonly source: PluginSource;
  readonly file?: string;
  readonly loadedAt = new Date();
  private readonly checkInput?: Validator;
  private readonly checkOutput?: Validator;

  constructor(
    readonly declaration: ActionDeclaration,
    readonly entry: PluginEntry,
    readonly pool: PluginPool,
    private readonly secrets: WorkflowSecrets,
    private readonly logger: Logger,
  ) {
    this.name = declaration.name;
    this.version = declaration.version;
    this.inputSchema = declaration.input as JsonSchema | undefined;
    this.source = entry.source;
    this.file = entry.source === 'directory' ? entry.label : undefined;
    this.checkInput = declaration.input ? compileJsonSchema(declaration.input as JsonSchema, { rootName: 'with' }) : undefined;
    this.checkOutput = declaration.output ? compileJsonSchema(declaration.output as JsonSchema, { rootName: 'output' }) : undefined;
  }

  async run(input: Record<string, unknown>, ctx: ActionRunContext): Promise<InvokedAction> {
    const inputProblems = this.checkInput?.(input) ?? [];
    if (inputProblems.length > 0) {
      return fail(PluginErrorCode.InvalidInput, `${this.name}: ${inputProblems.map((p) => `${p.field}: ${p.messages.join(', ')}`).join('; ')}`, false);
    }
    const headers: Record<string, string> = {};
    injectTraceHeaders(headers);
    const fields = { plugin: this.name, plugin_version: this.version, run_id: ctx.run.id, trace_id: ctx.run.trace_id, idempotency_key: ctx.idempotencyKey };
    const result = await this.pool.execute({
      input,
      idempotencyKey: ctx.idempotencyKey,
      traceparent: headers.traceparent,
      secrets: this.secrets.valuesFor(this.declaration.secrets ?? []),
      signal: ctx.signal,
      log: (level, message, extra) => {
        const line = { msg: message, ...extra, ...fields };
        if (level === 'error') this.logger.error(line);
        else if (level === 'warn') this.logger.warn(line);
        else if (level === 'debug') this.logger.debug?.(line);
        else this.logger.log(line);
      },
    });
    if (!result.ok) return { result: { ok: false, error: result.error } };
    const outputProblems = this.checkOutput?.(result.output) ?? [];
    if (outputProblems.length > 0) {
      return fail(PluginErrorCode.InvalidOutput, `${this.name}: ${outputProblems.map((p) => `${p.field}: ${p.messages.join(', ')}`).join('; ')}`, false);
    }
    return { result: { ok: true, output: result.output } };
  }
}

/** A plugin that did not load, kept under its name so manifests naming it stay valid and its steps say why they fail. */
export class FailedPluginAction implements ExecutorAction {
  readonly version = '0.0.0';
  readonly declaration: ActionDeclaration;
  readonly source: PluginSource;
  readonly file?: string;
  readonly loadedAt = new Date();

  constructor(
    readonly name: string,
    readonly entry: PluginEntry,
    readonly loadError: string,
  ) {
    this.declaration = { name, version: this.version };
    this.source = entry.source;
    this.file = entry.source === 'directory' ? entry.label : undefined;
  }

  async run(): Promise<InvokedAction> {
    return fail(PluginErrorCode.LoadFailed, `plugin ${this.name} did not load: ${this.loadError}`, false);
  }
}

function fail(code: string, message: string, retryable: boolean): InvokedAction {
  return { result: { ok: false, error: { code, message, retryable } } };
}
