/** `pancha runs list|show|cancel|retry|signal`: runs through Core's public API. */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { IDEMPOTENCY_KEY_PATTERN, WORKFLOW_RUN_STATUSES } from '@pancha/contracts';
import { ApiError, EXIT_OK, UsageError } from '../cli-errors';
import { RUN, RUN_LIST, RUN_SUMMARY, type RunDetail, type RunRecord, type RunSummary, SIGNAL_SENT } from '../core-answers';
import { colours, duration, fields, hint, print, printJson, statusColour, table, when } from '../output';
import { coreClient, globals, query, seg, sinceToIso } from './context';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function runId(value: string): string {
  if (!UUID.test(value)) throw new UsageError(`<run_id> must be a UUID, got "${value}"`);
  return value.toLowerCase();
}

export interface RunsListOptions {
  workflow?: string;
  status?: string;
  since?: string;
  limit?: string;
  children?: boolean;
  cursor?: string;
}

export async function runsList(opts: RunsListOptions, cmd: Command): Promise<number> {
  if (opts.status && !(WORKFLOW_RUN_STATUSES as readonly string[]).includes(opts.status)) {
    throw new UsageError(`--status must be one of ${WORKFLOW_RUN_STATUSES.join(', ')}`);
  }
  const limit = opts.limit === undefined ? undefined : Number(opts.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 500)) throw new UsageError('--limit must be an integer from 1 to 500');
  // Dropped, an empty --cursor would silently show the first page again.
  if (opts.cursor !== undefined && opts.cursor.trim() === '') throw new UsageError('--cursor must not be empty');
  const q = query({
    workflow: opts.workflow,
    status: opts.status,
    since: opts.since === undefined ? undefined : sinceToIso(opts.since),
    limit,
    include_children: opts.children ? 'true' : undefined,
    cursor: opts.cursor,
  });
  const res = await coreClient(cmd).get(`/runs${q}`, RUN_LIST);
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  if (res.runs.length === 0) return print('no runs match'), EXIT_OK;
  print(runTable(res.runs));
  // On stderr, so piped stdout stays the table alone (as `events list`).
  if (res.next_cursor) hint(`more runs match: see the next page with --cursor ${res.next_cursor}`);
  return EXIT_OK;
}

function runTable(runs: readonly RunSummary[]): string {
  return table(
    ['RUN', 'WORKFLOW', 'STATUS', 'CREATED', 'DURATION', 'ERROR'],
    runs.map((r) => [r.run_id, `${r.workflow}@${r.version}`, statusColour(r.status), when(r.created_at), duration(r.duration_ms), r.error ? `${r.error.code}: ${r.error.message}` : null]),
  );
}

/** `GET /runs/<id>` answers the executor's view of the run, or Core's own record of it (RunRequestView). */
function isRunView(run: RunDetail | RunRecord): run is RunDetail {
  return 'steps' in run;
}

export async function runsShow(id: string, cmd: Command): Promise<number> {
  const run = await coreClient(cmd).get(`/runs/${runId(id)}`, RUN);
  if (globals(cmd).json) return printJson(run), EXIT_OK;
  if (!isRunView(run)) return printRecord(run), EXIT_OK;
  print(
    fields([
      ['run', run.run_id],
      ['workflow', `${run.workflow}@${run.version}`],
      ['status', statusColour(run.status) + (run.cancel_requested && run.status === 'running' ? ' (cancel requested)' : '')],
      ['trace', run.trace_id],
      ['actor', run.actor],
      ['user / product', `${run.user_id ?? '-'} / ${run.product ?? '-'}`],
      ['created', when(run.created_at)],
      ['duration', duration(run.duration_ms)],
      ['parent', run.parent_run_id],
      ['error', run.error ? `${run.error.code}: ${run.error.message}` : null],
      ['warnings', run.warnings?.length ? colours.yellow(run.warnings.join('; ')) : null],
    ]),
  );
  if (run.steps.length > 0) {
    print('');
    print(
      table(
        ['STEP', 'KIND', 'STATUS', 'ATTEMPTS', 'DURATION', 'ERROR'],
        run.steps.map((s) => [s.path, s.kind, statusColour(s.status), s.attempts.length, duration(s.duration_ms), s.error ? `${s.error.code}: ${s.error.message}` : null]),
      ),
    );
  }
  if (run.children.length > 0) {
    print('');
    print(runTable(run.children));
  }
  return EXIT_OK;
}

/** A run as Core's own record tells it: no steps, no children, and a line on where its start stands. */
function printRecord(run: RunRecord): void {
  print(
    fields([
      ['run', run.run_id],
      ['workflow', `${run.workflow}@${run.version}`],
      ['status', statusColour(run.status)],
      ['trace', run.trace_id],
      ['user / product', `${run.user_id ?? '-'} / ${run.product ?? '-'}`],
      ['created', when(run.created_at)],
      ['ended', when(run.completed_at)],
      ['error', run.error ? `${run.error.code}: ${run.error.message}` : null],
      ['delivery', run.delivery],
      ['reason', run.reason],
    ]),
  );
  print('');
  print(deliveryNote(run.delivery));
}

function deliveryNote(delivery: string): string {
  switch (delivery) {
    case 'queued':
      return 'the executor has not received this run yet: its start waits in Core\'s outbox, and its steps show once the executor has it';
    case 'refused':
      return 'this run never started: the executor refused its start';
    case 'cancelled':
      return 'this run never started: it was cancelled before the executor received it';
    default:
      return `the executor did not answer: this is Core's own record of the run (delivery ${delivery}), without its steps`;
  }
}

export async function runsControl(id: string, action: 'cancel' | 'retry', cmd: Command): Promise<number> {
  const run = await coreClient(cmd).post(`/runs/${runId(id)}/${action}`, RUN_SUMMARY);
  if (globals(cmd).json) return printJson(run), EXIT_OK;
  print(`${action === 'cancel' ? 'cancel requested for' : 'retrying'} ${run.run_id} (${run.workflow}@${run.version}, now ${statusColour(run.status)})`);
  return EXIT_OK;
}

/** `text` in single quotes for a POSIX shell, each `'` in it closing, escaping and reopening them: the same text back. */
function shellQuoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `text` as one shell word: bare when nothing in it is special to a shell, quoted otherwise. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : shellQuoted(text);
}

/**
 * Every signal goes with an Idempotency-Key (`--key`, or a new one): when Core cannot say whether the executor took it
 * (a 504), the error names the key, and repeating the command with it sends the signal once.
 */
export async function runsSignal(id: string, name: string, opts: { payload?: string; key?: string }, cmd: Command): Promise<number> {
  let payload: unknown;
  if (opts.payload !== undefined) {
    try {
      payload = JSON.parse(opts.payload);
    } catch (error) {
      throw new UsageError(`--payload must be JSON: ${(error as Error).message}`);
    }
  }
  const key = opts.key ?? randomUUID();
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) throw new UsageError('--key must be 1 to 255 visible ASCII characters');
  const path = `/runs/${runId(id)}/signals/${seg(name)}`;
  const res = await coreClient(cmd)
    .exchange('POST', path, SIGNAL_SENT, payload === undefined ? {} : { payload }, { 'idempotency-key': key })
    .then((answer) => answer.body)
    .catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 504 && opts.key === undefined) {
        const payloadArg = opts.payload !== undefined ? ` --payload ${shellQuoted(opts.payload)}` : '';
        error.message += `\nto repeat it safely: pancha runs signal ${shellWord(id)} ${shellWord(name)} --key ${key}${payloadArg}`;
      }
      throw error;
    });
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  print(`signal ${name} sent to ${res.run.run_id} (signal ${res.signal_id}; run ${statusColour(res.run.status)})`);
  return EXIT_OK;
}
