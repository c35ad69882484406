/**
 * `npx pancha`: operate workflows from a terminal. Remote commands talk to Core's public API as the operator
 * (PANCHA_URL, a fresh token per request from the keys directory, or PANCHA_TOKEN); `validate`, `test`, `docs`,
 * `generate` and `import` work offline on files. Exit status: 0 ok, 1 findings or failures, 2 usage or connection.
 */
import 'reflect-metadata';
import { Command, CommanderError, Option } from 'commander';
import { ApiError, ConnectionError, EXIT_OK, EXIT_USAGE, exitCodeOf } from './cli-errors';
import { TEMPLATES } from './commands/templates';
import { colours, printJson } from './output';

// Each command loads only what it needs: a remote command never loads the manifest validator, an offline one never
// loads the token issuer (and Nest with it). It keeps startup short.
const lazy = <M>(load: () => M) => {
  let m: M | undefined;
  return () => (m ??= load());
};
const remote = lazy(() => require('./commands/workflows-remote') as typeof import('./commands/workflows-remote'));
const offline = lazy(() => require('./commands/offline') as typeof import('./commands/offline'));
const generate = lazy(() => require('./commands/generate') as typeof import('./commands/generate'));
const imports = lazy(() => require('./commands/import') as typeof import('./commands/import'));
const runsCmd = lazy(() => require('./commands/runs') as typeof import('./commands/runs'));
const pluginsCmd = lazy(() => require('./commands/plugins') as typeof import('./commands/plugins'));
const eventsCmd = lazy(() => require('./commands/events') as typeof import('./commands/events'));
const tasksCmd = lazy(() => require('./commands/tasks') as typeof import('./commands/tasks'));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander hands each action its own argument list
type Handler = (...args: any[]) => Promise<number>;

/**
 * Runs a command's handler; its number becomes the exit status, an error one clear line on stderr. With `--json`, an
 * error Core answered is also printed on stdout as Core sent it (`{code, message, trace_id, errors?}`), the exit status
 * unchanged: what Core answered, as for a success. An error without an answer of Core's (a usage error, Core
 * unreachable, an answer that is not Core's) prints nothing on stdout.
 */
function act(handler: Handler): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    try {
      process.exitCode = await handler(...args);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const cmd = args[args.length - 1];
      if (error instanceof ApiError && error.body !== undefined && cmd instanceof Command && cmd.optsWithGlobals<{ json?: boolean }>().json) {
        printJson(error.body);
      }
      process.stderr.write(`pancha: ${error instanceof ConnectionError ? message : colours.red(message)}\n`);
      process.exitCode = exitCodeOf(error);
    }
  };
}

function program(): Command {
  const p = new Command('pancha')
    .description('Operate Pancha workflows: the registry, runs, plugins and events on Core, and offline checks of manifest files.')
    .version('0.1.0')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addOption(new Option('--url <url>', 'Core base URL').env('PANCHA_URL').default('http://127.0.0.1:8002'))
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .addHelpText(
      'after',
      `
Environment:
  PANCHA_URL        Core base URL (default http://127.0.0.1:8002)
  PANCHA_KEYS_DIR   keys directory holding operator.key.pem (default .data/keys in the repository)
  PANCHA_TOKEN      a ready operator token instead of the keys (writes need a fresh token each)

Exit status: 0 ok, 1 findings or failures, 2 usage or connection error (or an answer that is not Core's).`,
    );

  const wf = p.command('workflows').alias('wf').description('workflow definitions: list, inspect, switch on/off, reload, check, test, document');
  wf.command('list').description('registered workflows with their versions and live runs').action(act((_o, c) => remote().workflowsList(c)));
  wf.command('show <name[@version]>').description('one workflow and its versions (live run counts), or one version\'s steps').action(act((ref, _o, c) => remote().workflowsShow(ref, c)));
  wf.command('enable <name>').description('let new runs of the workflow start again').option('--reason <text>', 'why (recorded in Bucket)').action(act((n, o, c) => remote().workflowsSetEnabled(n, true, o, c)));
  wf.command('disable <name>').description('refuse new runs at once (409); runs in flight finish').option('--reason <text>', 'why (recorded in Bucket)').action(act((n, o, c) => remote().workflowsSetEnabled(n, false, o, c)));
  wf.command('reload').description('re-read the workflows directory: register new versions; an invalid file never replaces a valid one').action(act((_o, c) => remote().workflowsReload(c)));
  wf.command('stats [name]')
    .description('runs by status, success rate, p50/p95, slowest step, retries and the last failure, per workflow and version')
    .option('--window <duration>', 'how far back (e.g. 1h, 24h, 7d)', '24h')
    .action(act((n, o, c) => remote().workflowsStats(n, o, c)));
  const setOptions = (c: Command) =>
    c
      .option('--actions <names>', 'extra action names to accept (plugins), comma-separated')
      .option('--http-hosts <hosts>', 'the deployment\'s http allow-list (default $WORKFLOW_HTTP_ALLOWED_HOSTS; unset = no extra limit)');
  setOptions(
    wf
      .command('validate [paths...]')
      .description('check manifest files offline (for CI and pre-commit): file:line:col per finding, exit 1 on errors')
      .addOption(new Option('--mode <mode>', 'validation mode').choices(['strict', 'permissive', 'audit']).default('strict')),
  ).action(act((paths, o, c) => offline().workflowsValidate(paths, o, c)));
  setOptions(
    wf
      .command('test [name]')
      .description("run manifests' tests: cases offline (stubbed actions, fake clock), all or one workflow's")
      .option('--dir <dir>', 'the workflows directory (default ./workflows)'),
  ).action(act((n, o, c) => offline().workflowsTest(n, o, c)));
  setOptions(
    wf
      .command('docs [name]')
      .description('write one Markdown page per workflow (docs/workflows/<name>.md); --check fails when a page is stale')
      .option('--dir <dir>', 'the workflows directory (default ./workflows)')
      .option('--out <dir>', 'where the pages go (default docs/workflows)')
      .option('--check', 'write nothing; exit 1 when a page differs from its manifest'),
  ).action(act((n, o, c) => offline().workflowsDocs(n, o, c)));
  wf.command('generate')
    .description('write a new manifest skeleton that validates and whose tests pass')
    .requiredOption('--name <name>', 'the workflow name (and file name)')
    .option('--from <template>', `${Object.entries(TEMPLATES).map(([k, t]) => `${k} (${t.about})`).join('; ')}; or a manifest file to copy`, 'task')
    .option('--dir <dir>', 'where to write it (default ./workflows)')
    .option('--stdout', 'print it instead of writing a file')
    .option('--force', 'overwrite an existing file')
    .action(act((o, c) => generate().workflowsGenerate(o, c)));
  wf.command('import <file>')
    .description('turn a DreamNet JSON manifest or a TriggerMesh YAML workflow into Pancha manifests, saying what was not carried over')
    .addOption(new Option('--format <format>', 'the source format (default: detected)').choices(['dreamnet', 'triggermesh']))
    .option('--out <dir>', 'where to write (default ./workflows)')
    .option('--stdout', 'print the manifests instead of writing files (notes go to stderr)')
    .option('--force', 'overwrite existing files')
    .option('--actions <names>', 'plugin action names to accept when checking the result, comma-separated')
    .action(act((f, o, c) => imports().workflowsImport(f, o, c)));

  const runs = p.command('runs').description('workflow runs: list, inspect, cancel, retry, signal');
  runs.command('list')
    .description('recent runs, newest first')
    .option('--workflow <name>', 'only this workflow')
    .option('--status <status>', 'only runs in this status (pending, running, completed, failed, cancelled, timed_out)')
    .option('--since <when>', 'created since: a duration back (30m, 24h, 7d) or an ISO time')
    .option('--limit <n>', 'at most n runs (1-500)')
    .option('--children', 'include sub-workflow runs')
    .option('--cursor <cursor>', 'the next page: the cursor a previous list printed when more runs matched (keep the same filters)')
    .action(act((o, c) => runsCmd().runsList(o, c)));
  runs.command('show <run_id>').description('a run with its steps, attempts and children').action(act((id, _o, c) => runsCmd().runsShow(id, c)));
  runs.command('cancel <run_id>').description('cancel a run (it stops at its next step boundary)').action(act((id, _o, c) => runsCmd().runsControl(id, 'cancel', c)));
  runs.command('retry <run_id>').description('retry a failed run from its failed step').action(act((id, _o, c) => runsCmd().runsControl(id, 'retry', c)));
  runs.command('signal <run_id> <name>')
    .description('send a signal (e.g. an approval) to a run')
    .option('--payload <json>', 'the signal payload (JSON)')
    .option('--key <key>', 'its Idempotency-Key (default: a new one, printed if Core cannot say whether the signal arrived): the same key sends it once however often it is repeated')
    .action(act((id, name, o, c) => runsCmd().runsSignal(id, name, o, c)));

  const plugins = p.command('plugins').description('action plugins the executor loaded');
  plugins.command('list').description('every plugin with its source and status').action(act((_o, c) => pluginsCmd().pluginsList(c)));
  plugins.command('show <name>').description('one plugin with its input and output schemas').action(act((n, _o, c) => pluginsCmd().pluginsShow(n, c)));

  const events = p.command('events').description('the event router: statistics, recent events and their decisions, and publishing one by hand');
  events.command('stats').description('received, matched, runs started and skipped by reason, per type and workflow').option('--window <duration>', 'how far back (e.g. 1h, 24h)').action(act((o, c) => eventsCmd().eventsStats(o, c)));
  events.command('list')
    .description('recent events')
    .option('--type <type>', 'only this event type')
    .option('--since <when>', 'received since: a duration back (30m, 24h) or an ISO time')
    .option('--limit <n>', 'at most n events (Core sends 50 unless told)')
    .option('--cursor <cursor>', 'the next page: the cursor a previous list printed when more events matched')
    .action(act((o, c) => eventsCmd().eventsList(o, c)));
  events.command('send <type>')
    .description('publish one event by hand (checked against its type\'s schema) and print what it started and skipped')
    .option('--data <json>', 'the event\'s data (JSON object)', undefined)
    .option('--id <id>', 'the event id (a resend with the same id starts nothing)')
    .option('--source <source>', 'who the event is from')
    .option('--subject <subject>', 'what the event is about')
    .action(act((type, o, c) => eventsCmd().eventsSend(type, o, c)));
  events.command('show <event_id>').description("an event and its decision trail (what it started, and why not the others)").action(act((id, _o, c) => eventsCmd().eventsShow(id, c)));
  const tasks = p.command('tasks').description('tasks for Core to decide, as a producer sends them');
  tasks.command('submit [file]')
    .description('submit one task (--input, --user) or a file of them (JSON Lines or a JSON array; - for stdin), up to 100 a request; a file submitted again (after a failure, say) resumes without storing anything twice, one task submitted again is a new task unless --key names it')
    .option('--input <text>', 'the task\'s text (one task, no file)')
    .option('--user <user_id>', 'the user the task is for (one task, no file)')
    .option('--product <product>', 'the product, for every task that names none')
    .option('--agent <name>', 'the calling agent\'s name, for every task that names none')
    .option('--tag <tag>', 'a tag for every task that has none (repeatable)', (tag: string, all: string[] = []) => [...all, tag])
    .option('--batch <n>', 'tasks per request (1 to 100, default 100)')
    .option('--key <name>', 'names this submission: the same file with another key is submitted again as new tasks; one task (--input) is resumed by the same --key, and without one each run submits a new task')
    .action(act((file, o, c) => tasksCmd().tasksSubmit(file, o, c)));
  return p;
}

/**
 * A reader that stops early (`pancha events list | head -1`) closes the pipe. The CLI ends quietly, as a Unix tool
 * killed by SIGPIPE does (status 141, which `set -o pipefail` sees), instead of an unhandled EPIPE and its stack trace.
 */
/** 128 + SIGPIPE (13): what a shell reports for a writer whose reader went away. */
const EXIT_CLOSED_PIPE = 141;

function endQuietlyOnClosedPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_CLOSED_PIPE);
    process.stderr.write(`pancha: cannot write the output: ${error.message}\n`);
    process.exit(1);
  });
}

async function main(argv: string[]): Promise<void> {
  endQuietlyOnClosedPipe();
  const p = program();
  // Every subcommand exits through the same override: usage errors are status 2, help and --version 0.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(p);
  try {
    await p.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; a usage error, or a group run without its subcommand (help on stderr), 2.
      process.exitCode = error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      return;
    }
    throw error;
  }
}

main(process.argv).catch((error: unknown) => {
  process.stderr.write(`pancha: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
