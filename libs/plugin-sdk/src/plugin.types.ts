/** A JSON Schema (draft 2020-12) as a plain object. */
export type JsonSchema = Record<string, unknown>;

/** What every action declares, built-in or plugin: its name, version, schemas, retryable errors and secrets. */
export interface ActionDeclaration {
  /** The `action:` a manifest names (`[a-z][a-z0-9-]*`); unique across built-ins and plugins. */
  name: string;
  /** Semver of the plugin (built-ins: `builtin`). */
  version: string;
  description?: string;
  /** JSON Schema of the step's rendered `with`; checked before every attempt (and statically by the registry). */
  input?: JsonSchema;
  /** JSON Schema of what `execute` returns; an answer it refuses fails the step with plugin_invalid_output. */
  output?: JsonSchema;
  /** Error codes worth another attempt (with the step's backoff); any other code is terminal. */
  retryableCodes?: readonly string[];
  /** Names of the secrets the action reads (values from WORKFLOW_SECRET_<NAME> or WORKFLOW_SECRETS_FILE). */
  secrets?: readonly string[];
}

export interface PluginLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * What `execute` gets besides its input: made for one attempt. Module-level state of a plugin lives as long as its
 * worker, which serves many attempts one after another: never keep a ctx, a secret or a run's data there.
 */
export interface PluginContext<S extends string = string> {
  /** `<run_id>:<step path>`: the same for every attempt of the step; hand it to the provider. */
  idempotencyKey: string;
  /** W3C traceparent of the step's span: put it on outgoing requests. */
  traceparent: string | undefined;
  /** JSON-line logs in the executor's log, with the run's trace_id, run_id and step. */
  logger: PluginLogger;
  /** Aborted when the step times out or the run is cancelled; the worker is stopped shortly after (100 ms). */
  signal: AbortSignal;
  /** Only the secrets the plugin declared, and only those that have a value. */
  secrets: Readonly<Partial<Record<S, string>>>;
}

/** A plugin: its declaration plus `execute`, and how its errors are classified. */
export interface PluginDefinition<I = Record<string, unknown>, O = unknown, S extends string = string> extends Omit<ActionDeclaration, 'secrets' | 'retryableCodes'> {
  secrets?: readonly S[];
  /** Codes worth another attempt, or a function deciding from the thrown error (default: `error.retryable === true`). */
  retryable?: readonly string[] | ((error: unknown) => boolean);
  execute(ctx: PluginContext<S>, input: I): Promise<O> | O;
}

/** Typed identity: `module.exports = definePlugin({ … })`; the executor validates the definition when it loads it. */
export function definePlugin<I = Record<string, unknown>, O = unknown, S extends string = string>(
  definition: PluginDefinition<I, O, S>,
): PluginDefinition<I, O, S> {
  return definition;
}

/** Throw one to fail the step with your own code (`[a-z0-9_]+`); `retryable` applies when `retryable` is not declared. */
export class PluginError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable?: boolean,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}

export const PLUGIN_NAME_REGEX = /^[a-z][a-z0-9-]{0,63}$/;
