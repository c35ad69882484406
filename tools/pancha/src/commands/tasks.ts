/**
 * `pancha tasks submit [file]`: tasks to Core as a producer sends them, as the operator. One task from the options
 * (`--input`, `--user`), or a file of them (JSON Lines, or one JSON array; `-` reads stdin) in batches of up to 100 (and
 * 256 KiB) per `POST /handle_tasks`: each batch is stored whole or not at all, and a refused one is reported by the file's line.
 * Every batch of a file carries an Idempotency-Key made from its content and position, so running the same command again
 * after a failure resumes it: batches already stored are answered from their key and stored nothing twice. One task from
 * the options is a person's words: run again, it is a new task, so it carries a key only when `--key` names the
 * submission (the same `--key` again is then answered from it).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAX_BODY_BYTES, MAX_TASK_BATCH } from '@pancha/contracts';
import type { Command } from 'commander';
import { ApiError, ConnectionError, EXIT_OK, fieldDetails, UsageError } from '../cli-errors';
import { type TaskAccepted, tasksAcceptedFor } from '../core-answers';
import { print, printJson, table } from '../output';
import { coreClient, globals } from './context';

export interface SubmitOptions {
  input?: string;
  user?: string;
  product?: string;
  agent?: string;
  tag?: string[];
  batch?: string;
  key?: string;
}

/** A task as read: its body and the line of the file it came from (1 for a task given by options). */
interface TaskLine {
  line: number;
  body: Record<string, unknown>;
}

type Submitted = TaskAccepted & { line: number; replayed: boolean };

export async function tasksSubmit(file: string | undefined, opts: SubmitOptions, cmd: Command): Promise<number> {
  const single = file === undefined;
  const tasks = single ? [taskFromOptions(opts)] : readTasks(file, opts);
  // A file resumes by its keys; one task by the options is keyed only when the user names the submission.
  const keyed = !single || opts.key !== undefined;
  const client = coreClient(cmd);
  const submitted: Submitted[] = [];
  const requests = batches(tasks, batchSize(opts.batch));
  for (const [index, batch] of requests.entries()) {
    const bodies = batch.map((t) => t.body);
    let answer: { body: { tasks: TaskAccepted[] }; headers: Headers };
    try {
      const headers: Record<string, string> = keyed ? { 'idempotency-key': idempotencyKey(opts.key, index, bodies) } : {};
      // One answer per task sent, in order (checked): each is told by its task's line.
      answer = await client.exchange('POST', '/handle_tasks', tasksAcceptedFor(bodies.length), { tasks: bodies }, headers);
    } catch (error) {
      throw refusal(error, batch, submitted.length, single);
    }
    const replayed = answer.headers.get('idempotent-replay') === 'true';
    answer.body.tasks.forEach((task, i) => submitted.push({ ...task, line: batch[i].line, replayed }));
  }
  const again = submitted.filter((t) => t.replayed).length;
  if (globals(cmd).json) return printJson({ tasks: submitted, requests: requests.length }), EXIT_OK;
  print(
    table(
      ['LINE', 'TASK', 'TRACE', 'DECISION', 'STATUS', 'RUN'],
      submitted.map((t) => [t.line, t.task_id, t.trace_id, t.decision, t.status, t.run_id ? `${t.workflow ?? ''} ${t.run_id}`.trim() : null]),
    ),
  );
  print(`${submitted.length} task${submitted.length === 1 ? '' : 's'} in ${requests.length} request${requests.length === 1 ? '' : 's'}${again ? `; ${again} stored by an earlier run of this command (answered from their Idempotency-Key, nothing stored twice)` : ''}`);
  return EXIT_OK;
}

function taskFromOptions(opts: SubmitOptions): TaskLine {
  if (opts.input === undefined || opts.user === undefined) throw new UsageError('give a file of tasks, or --input and --user for one task');
  return { line: 1, body: withOptions({ input: opts.input, user_id: opts.user }, opts) };
}

/** Options that apply to every task of a file fill what a line leaves out (`--product`, `--agent`, `--tag`). */
function withOptions(body: Record<string, unknown>, opts: SubmitOptions): Record<string, unknown> {
  return {
    ...(opts.agent !== undefined ? { agent: opts.agent } : {}),
    ...(opts.product !== undefined ? { product: opts.product } : {}),
    ...(opts.tag?.length ? { tags: opts.tag } : {}),
    ...body,
  };
}

function readTasks(file: string, opts: SubmitOptions): TaskLine[] {
  if (opts.input !== undefined || opts.user !== undefined) throw new UsageError('--input and --user are for one task without a file: put them in the file instead');
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const name = file === '-' ? 'stdin' : file;
  // Editors on Windows start UTF-8 files with a byte order mark; it is no part of the JSON.
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const tasks = text.trimStart().startsWith('[') ? fromArray(text, name) : fromLines(text, name);
  if (tasks.length === 0) throw new UsageError(`${name} holds no tasks`);
  return tasks.map((t) => ({ ...t, body: withOptions(t.body, opts) }));
}

function fromArray(text: string, name: string): TaskLine[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${name} is not JSON: ${(error as Error).message}`);
  }
  // An array's items have no lines: each is numbered by its place (1 for the first).
  return (parsed as unknown[]).map((item, i) => ({ line: i + 1, body: taskObject(item, `${name} item ${i + 1}`) }));
}

function fromLines(text: string, name: string): TaskLine[] {
  const tasks: TaskLine[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw new UsageError(`${name}:${i + 1}: not JSON: ${(error as Error).message}`);
    }
    tasks.push({ line: i + 1, body: taskObject(parsed, `${name}:${i + 1}`) });
  });
  return tasks;
}

function taskObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${where}: a task must be a JSON object ({"input": …, "user_id": …})`);
  return value as Record<string, unknown>;
}

/**
 * The requests' batches, in file order: up to `size` tasks each, and no larger than a body Core takes (MAX_BODY_BYTES,
 * with room for the envelope). A task too large on its own goes alone, for Core to refuse by its line (413).
 */
function batches(tasks: readonly TaskLine[], size: number): TaskLine[][] {
  const room = MAX_BODY_BYTES - 1024;
  const out: TaskLine[][] = [];
  let current: TaskLine[] = [];
  let bytes = 0;
  for (const task of tasks) {
    const taskBytes = Buffer.byteLength(JSON.stringify(task.body)) + 1;
    if (current.length > 0 && (current.length === size || bytes + taskBytes > room)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(task);
    bytes += taskBytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function batchSize(raw: string | undefined): number {
  if (raw === undefined) return MAX_TASK_BATCH;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TASK_BATCH) throw new UsageError(`--batch must be an integer from 1 to ${MAX_TASK_BATCH}, got "${raw}"`);
  return n;
}

/**
 * The same batch at the same place of the same submission gets the same key, so a rerun is answered from it. `--key`
 * names a submission: another key submits the same tasks again as new ones. One task by the options is keyed only with `--key`.
 */
function idempotencyKey(prefix: string | undefined, index: number, bodies: readonly unknown[]): string {
  const hash = createHash('sha256').update(`${prefix ?? ''}\n${index}\n${JSON.stringify(bodies)}`).digest('hex');
  return `pancha-tasks-${hash}`;
}

/**
 * Core's refusal of a batch, told by the file's lines, with what was stored before it. A batch that got no answer Core
 * gives (unreachable, or a foreign answer) may or may not be stored: it says so, with the count before it, since a
 * rerun resumes by the same keys whatever happened. One task given by the options has no lines: its fields are named
 * as they are (`task not stored: input: …`).
 */
function refusal(error: unknown, batch: readonly TaskLine[], before: number, single: boolean): unknown {
  const lines = single ? 'task' : batch.length === 1 ? `line ${batch[0].line}` : `lines ${batch[0].line}–${batch[batch.length - 1].line}`;
  const stored = before ? `; the ${before} task${before === 1 ? '' : 's'} before them were stored: run the same command again to resume` : '';
  if (error instanceof ConnectionError && before) {
    return new (error.constructor as new (message: string) => ConnectionError)(`${error.message}\n${lines} may or may not be stored${stored} (nothing is stored twice)`);
  }
  if (!(error instanceof ApiError)) return error;
  const fields = (error.errors ?? []).map(({ field, messages }) => {
    const m = /^tasks\.(\d+)(?:\.(.+))?$/.exec(field);
    const task = m ? batch[Number(m[1])] : undefined;
    if (!task) return { field, messages };
    return { field: single ? (m?.[2] ?? 'task') : `line ${task.line}${m?.[2] ? ` ${m[2]}` : ''}`, messages };
  });
  return new ApiError(error.status, error.code, `${lines} not stored: ${fields.length ? fieldDetails(fields) : error.message}${stored}`, error.errors, error.body);
}
