import { createHash } from 'node:crypto';
import { Client, type ClientConfig } from 'pg';

/** A statement text is prepared once it has run this many times in the process (JDBC's prepareThreshold is 5). */
export const PREPARE_AFTER = 5;
/** Distinct statement texts counted at most: texts that vary (generated IN lists) never crowd out the hot ones. */
export const MAX_PREPARED_TEXTS = 200;

const runs = new Map<string, number>();
const names = new Map<string, string>();

/**
 * How the connections plan prepared statements: for each execution, with its values and the tables as they are
 * then. PostgreSQL's default (`auto`) switches a statement to a generic plan after five executions and keeps it
 * until the tables' statistics change; a table without statistics (autovacuum off, or not yet run) never
 * invalidates it, so a plan made while the outbox was empty (scan it, hash the batch) was still used with
 * 30,000 rows in it, at 100–500 ms an execution.
 */
export const PLAN_CACHE_OPTION = '-c plan_cache_mode=force_custom_plan';

/** The client's configuration with PLAN_CACHE_OPTION added to its startup options (kept if already there). */
export function withCustomPlans(config?: string | ClientConfig): ClientConfig {
  const base: ClientConfig = typeof config === 'string' ? { connectionString: config } : { ...(config ?? {}) };
  const options = base.options ?? '';
  return options.includes('plan_cache_mode') ? base : { ...base, options: `${options} ${PLAN_CACHE_OPTION}`.trim() };
}

/**
 * The name a parameterised statement runs under, once it is hot: the same text always gets the same name, so
 * node-postgres parses it once per connection (PostgreSQL plans each execution, see PLAN_CACHE_OPTION).
 * Undefined while the text is cold, has no parameters, or the table of texts is full.
 */
export function preparedName(text: string, values: unknown): string | undefined {
  if (!Array.isArray(values) || values.length === 0) return undefined;
  const known = names.get(text);
  if (known) return known;
  const count = (runs.get(text) ?? 0) + 1;
  if (count === 1 && runs.size >= MAX_PREPARED_TEXTS) return undefined;
  runs.set(text, count);
  if (count < PREPARE_AFTER) return undefined;
  // The statement's verb first: OpenTelemetry's pg spans are named after a prepared statement's name.
  const verb = /^\s*([a-z]+)/i.exec(text)?.[1]?.toLowerCase() ?? 'sql';
  const name = `${verb}_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
  names.set(text, name);
  return name;
}

/**
 * The pool's client class (buildDataSourceOptions' `extra.Client`): hot parameterised statements run as named
 * prepared statements, so PostgreSQL stops parsing the engine's round, the outbox's claim and every other
 * statement a service repeats thousands of times (what postgres.js and JDBC do by default), and plans each
 * execution for the data it meets. Everything else (TypeORM's errors, OpenTelemetry's pg spans, which wrap
 * Client.prototype.query) is unchanged.
 */
export class PreparingClient extends Client {
  constructor(config?: string | ClientConfig) {
    super(withCustomPlans(config));
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg's query has a dozen overloads; this forwards them all
  override query(...args: any[]): any {
    const [config, values] = args;
    const name = typeof config === 'string' ? preparedName(config, values) : undefined;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const query = super.query as (...a: any[]) => any;
    return name ? query.call(this, { name, text: config, values }, ...args.slice(2)) : query.apply(this, args);
  }
}
