import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type BeforeApplicationShutdown,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { type Context, ROOT_CONTEXT, SpanKind, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import { GroupCommit, type GroupItemOutcome } from '@pancha/service-kit';
import { extractTraceContext, getTracer } from '@pancha/trace-context';
import {
  type ActionCommand,
  type ActionResult,
  EngineErrorCode,
  engineError,
  failWithoutDefinition,
  type Round,
  RunInterpreter,
  type RunState,
  timerDelay,
} from '@pancha/workflow-engine';
import { TERMINAL_RUN_STATUSES, type WorkflowManifest } from '@pancha/workflow-manifest';
import type { EnqueueInput } from '@pancha/outbox';
import type { EntityManager } from 'typeorm';
import { type ActionRow, insertActionRows } from '../../adapters/action-rows';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { WorkflowRegistry } from '../registry/workflow-registry.service';
import { WorkflowSecrets } from '../registry/workflow-secrets';
import { ActionInvoker, type InvokedAction } from './action-invoker.service';
import { EngineClock, EngineRandom } from './engine-clock';
import { type Lease, type LoadedRun, LeaseLostError, loadedFromNew, type NewRun, type RoundRecord, RunStore } from './run-store';
import { RunEvents } from './run-events';
import { traceparentExemplar, workflowMetrics } from './workflow-metrics';

/** Rounds of different runs written per transaction at most. */
const MAX_ROUNDS_PER_COMMIT = 50;
/** Local actions performed while one round is built, in passes (a step's result can start the next step's action). */
const MAX_LOCAL_PASSES = 64;
/**
 * Claims in a row whose round failed to write for a reason that does not go away (unwritableRound) before the run
 * is failed with that reason: otherwise it would be claimed, fail and wait out its lease forever.
 */
export const MAX_UNWRITABLE_ROUNDS = 3;
/** Runs whose unwritable rounds are counted at most (an entry left by a run another replica ended is dropped with the rest). */
const MAX_UNWRITABLE_TRACKED = 10_000;

/** One run's round, waiting for the next group commit. */
interface RoundWrite {
  /** The run whose row the round writes (a group writes its rounds' run rows in run_id order: RunStore.writeRounds). */
  runId: string;
  context: Context;
  /** What the round writes to its run's own rows: with the group's other rounds, in one statement. */
  round: () => RoundRecord;
  /**
   * Only once the round's lease held: its statements beyond its run's rows (children, cancels, signals, the parent's
   * poke), and what the group writes for all its rounds at once (`tail`).
   */
  then: (manager: EntityManager, tail: RoundTail) => Promise<void>;
}

/**
 * What a round adds to its group's last statements rather than writing it itself: its actions' rows and its
 * events (each with the round's trace context), one INSERT per table and one for the outbox for the whole group.
 */
interface RoundTail {
  rows: ActionRow[];
  messages: EnqueueInput[];
}

/** An action attempt that came back (or was closed before it ran), and when (performance.now()). */
interface AttemptResult {
  command: ActionCommand;
  invoked: InvokedAction;
  at: number;
}

/** A run this process holds: its lease, interpreter and the actions in flight. */
interface HeldRun {
  lease: Lease;
  state: RunState;
  manifest: WorkflowManifest;
  interpreter: RunInterpreter;
  traceparent?: string;
  rootRunId: string;
  parentRunId?: string;
  inFlight: Map<string, { command: ActionCommand; abort: AbortController }>;
  results: AttemptResult[];
  /** Set by renewal when the lease is gone: stop, write nothing more. */
  lost: boolean;
  /**
   * performance.now() until which the lease surely holds: from when the request that took or last renewed it was
   * sent, plus the lease's length. Past it (renewals failing), another worker may hold the run: the run writes and
   * launches nothing until a renewal says whether the lease is still its own (it is extended) or lost.
   */
  leaseUntil: number;
  /** Set while the run waits for a renewal to confirm its lease: the next successful renewal wakes it. */
  confirming?: boolean;
  /** Actions its last round started that were not launched because the lease was past leaseUntil by then. */
  deferred: ActionCommand[];
  /** Set while the round that releases the run is written: renewal must not take the cleared lease for a lost one. */
  releasing?: boolean;
  /** Set when wake_version moved while held (a signal, a cancel, a child's end): reload those before the next round. */
  poked: boolean;
  wake?: () => void;
}

/** What writing a round needs of the run it belongs to (RunWorker.persist). */
type RoundOwner = Pick<HeldRun, 'lease' | 'state' | 'traceparent' | 'rootRunId' | 'parentRunId'>;

/**
 * Runs workflows durably: leases due runs (FOR UPDATE SKIP LOCKED, any number of replicas), asks the interpreter
 * what to do, writes each round's decisions in one fenced transaction, then performs the actions. A completed
 * step is never run again; an attempt interrupted by a crash is repeated with the same idempotency key.
 */
@Injectable()
export class RunWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RunWorker.name);
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly held = new Map<string, HeldRun>();
  /** Per run: its claims in a row here whose round could not be written for a reason that does not go away. */
  private readonly unwritable = new Map<string, number>();
  private running = false;
  private loop?: Promise<void>;
  private renewTimer?: NodeJS.Timeout;
  private wakeLoop?: () => void;
  private pokeRequested = false;
  /**
   * Group commit of rounds: the rounds of different runs that are ready while one transaction commits share the
   * next. Their run rows, steps and attempts are one statement for the whole group (RunStore.writeRounds, in a span
   * linked to each run's trace); the rest of each round is written in its run's trace context. A round whose lease
   * is gone wrote nothing (the statement fences each run on its lease) and fails alone with LeaseLostError; any other
   * failure splits the group.
   */
  private readonly rounds = new GroupCommit<RoundWrite, void>(
    (writes) =>
      this.store.dataSource.transaction(async (manager) => {
        const records = writes.map((w) => w.round());
        const links = writes.flatMap((w) => {
          const spanContext = trace.getSpanContext(w.context);
          return spanContext ? [{ context: spanContext }] : [];
        });
        // A span of its own (not under whichever request's context started this drain), linked to each run's trace.
        const attributes = { 'pancha.workflow.rounds': writes.length };
        const stale = new Set<string>();
        const held = await getTracer().startActiveSpan('workflow.rounds', { attributes, links }, ROOT_CONTEXT, async (span) => {
          try {
            return await this.store.writeRounds(manager, records, stale);
          } catch (error) {
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: describe(error) });
            throw error;
          } finally {
            span.end();
          }
        });
        const outcomes: GroupItemOutcome<void>[] = new Array(writes.length);
        const written: RoundTail = { rows: [], messages: [] };
        // The rest of each round, in run_id order (the run rows it changes were locked above, in order, with the group's).
        const order = writes.map((_, i) => i).sort((a, b) => (writes[a].runId < writes[b].runId ? -1 : writes[a].runId > writes[b].runId ? 1 : 0));
        for (const i of order) {
          const { runId, context, then } = writes[i];
          if (stale.has(runId)) {
            // Retried by an operator while this process still held it, ended: the retry stands, and the round wrote
            // only the attempts it closed (and its release). What else it decided belongs to the generation before.
            outcomes[i] = { ok: true, result: undefined };
            continue;
          }
          if (!held.has(runId)) {
            outcomes[i] = { ok: false, error: new LeaseLostError(runId) };
            continue;
          }
          const tail: RoundTail = { rows: [], messages: [] };
          await otelContext.with(context, () => then(manager, tail));
          outcomes[i] = { ok: true, result: undefined };
          written.rows.push(...tail.rows);
          written.messages.push(...tail.messages);
        }
        // A round whose lease was gone adds nothing: its run's rows were not written either.
        await insertActionRows(manager, written.rows);
        await this.events.enqueue(manager, written.messages);
        return outcomes;
      }),
    {
      maxBatch: MAX_ROUNDS_PER_COMMIT,
      onIsolate: (size, error) => this.logger.warn({ msg: 'workflow round group failed; writing its rounds one by one', size, error: describe(error) }),
    },
  );

  constructor(
    private readonly store: RunStore,
    private readonly registry: WorkflowRegistry,
    private readonly invoker: ActionInvoker,
    private readonly events: RunEvents,
    private readonly secrets: WorkflowSecrets,
    private readonly config: WorkflowExecutorConfig,
    private readonly clock: EngineClock,
    private readonly random: EngineRandom,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.WORKFLOW_WORKER_ENABLED) this.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const renewEvery = Math.max(50, Math.floor(this.config.WORKFLOW_LEASE_MS / 3));
    this.renewTimer = setInterval(() => void this.renewLeases(), renewEvery);
    this.renewTimer.unref();
    this.loop = this.claimLoop().catch((error: unknown) => {
      this.logger.error({ msg: 'workflow worker loop stopped unexpectedly', error: describe(error) });
      this.running = false;
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.renewTimer);
    this.wakeLoop?.();
    await this.loop;
    // Runs still held keep their actions going until shutdown ends; their leases expire and another worker resumes them.
    for (const run of this.held.values()) {
      for (const { abort } of run.inFlight.values()) abort.abort();
      run.lost = true;
      run.wake?.();
    }
  }

  /** Asks for a claim round now (a run was started or poked in this process). */
  poke(): void {
    this.pokeRequested = true;
    this.wakeLoop?.();
  }

  /** Rounds waiting for the next group commit (not those of the commit running now). */
  get queuedRounds(): number {
    return this.rounds.queued;
  }

  /** Number of runs this process holds right now (tests and metrics). */
  get heldCount(): number {
    return this.held.size;
  }

  private async claimLoop(): Promise<void> {
    // The registry reads its definitions in the same bootstrap: a run claimed before it has would be failed as
    // `workflow_not_found` (seen after a restart under load: one run of 200 failed so).
    await this.registry.loaded;
    let failures = 0;
    while (this.running) {
      this.pokeRequested = false;
      const free = this.config.WORKFLOW_MAX_ACTIVE_RUNS - this.held.size;
      let claimed = 0;
      if (free > 0) {
        try {
          // Never a run still driven here, even with its lease lapsed: its attempts may still be out (renewal takes it back).
          const leases = await this.store.claim(this.owner, free, this.config.WORKFLOW_LEASE_MS, this.clock.now(), [...this.held.keys()]);
          claimed = leases.length;
          for (const lease of leases) void this.drive(lease);
          failures = 0;
        } catch (error) {
          failures++;
          if (failures === 1 || failures % 50 === 0) this.logger.error({ msg: 'cannot claim workflow runs; will keep polling', failures, error: describe(error) });
        }
      }
      if (!this.running) break;
      if (claimed > 0 && claimed === free) continue;
      if (this.pokeRequested && free > 0) continue;
      const pause = failures === 0 ? this.config.WORKFLOW_POLL_MS : Math.min(5_000, this.config.WORKFLOW_POLL_MS * 2 ** failures);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pause);
        timer.unref();
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeLoop = done;
      });
      this.wakeLoop = undefined;
    }
  }

  private async renewLeases(): Promise<void> {
    if (this.held.size === 0) return;
    const runs = [...this.held.values()].filter((r) => !r.releasing);
    let versions: Map<string, number>;
    // The renewed leases hold at least until this plus their length (the database counts from later).
    const sent = performance.now();
    try {
      versions = await this.store.renew(this.owner, runs.map((r) => r.lease), this.config.WORKFLOW_LEASE_MS);
    } catch (error) {
      // Not confirmed: each run stops writing and launching once its leaseUntil passes (runUntilIdle).
      this.logger.warn({ msg: 'could not renew workflow leases', error: describe(error) });
      return;
    }
    for (const run of runs) {
      const version = versions.get(run.lease.runId);
      if (version === undefined) {
        if (this.held.get(run.lease.runId) !== run || run.releasing) continue;
        this.logger.warn({ msg: 'workflow run lease lost; another worker resumes it', run_id: run.lease.runId });
        run.lost = true;
        for (const { abort } of run.inFlight.values()) abort.abort();
      } else {
        // (Math.max: a slow renewal that returns after a later one must not move it back.)
        run.leaseUntil = Math.max(run.leaseUntil, sent + this.config.WORKFLOW_LEASE_MS);
        if (version !== run.lease.wakeVersion) {
          run.lease.wakeVersion = version;
          run.poked = true;
        } else if (!run.confirming) {
          continue;
        }
      }
      run.wake?.();
    }
  }

  /**
   * A lease for a run this process is about to insert (started here), if it has room: the insert takes the lease
   * itself, and `adopt` then runs it from the state in hand, with no claim and no load.
   */
  offerLease(runId: string): Lease | undefined {
    if (!this.running || this.held.size >= this.config.WORKFLOW_MAX_ACTIVE_RUNS) return undefined;
    return { runId, token: randomUUID(), wakeVersion: 0, takenAt: performance.now() };
  }

  /** Runs a run inserted here with a lease from offerLease (its state is what was inserted). */
  adopt(lease: Lease, loaded: LoadedRun): void {
    void this.drive(lease, loaded);
  }

  /** Holds one run until it has nothing to do now (or ends), one durable round at a time. */
  private async drive(lease: Lease, loaded?: LoadedRun): Promise<void> {
    let run: HeldRun | undefined;
    try {
      run = await this.open(lease, loaded);
      if (!run) return;
      this.held.set(lease.runId, run);
      await this.runUntilIdle(run);
      // Not on any round written: a claim that fails writes its interruption round first (the attempt the failed
      // round left running is started again), then fails the same way again.
      this.unwritable.delete(lease.runId);
    } catch (error) {
      if (!(error instanceof LeaseLostError)) {
        const failures = unwritableRound(error) ? (this.unwritable.get(lease.runId) ?? 0) + 1 : 0;
        this.unwritable.delete(lease.runId);
        if (failures >= MAX_UNWRITABLE_ROUNDS) {
          for (const { abort } of run?.inFlight.values() ?? []) abort.abort();
          await this.abandon(lease, error, failures);
        } else {
          if (failures > 0) {
            if (this.unwritable.size >= MAX_UNWRITABLE_TRACKED) this.unwritable.clear();
            this.unwritable.set(lease.runId, failures);
          }
          this.logger.error({ msg: 'workflow run round failed; the run is retried when its lease expires', run_id: lease.runId, failures, error: describe(error) });
        }
      }
    } finally {
      // Only its own entry: a later drive of the same run (after this one's lease was lost) keeps its hold.
      if (run && this.held.get(lease.runId) === run) this.held.delete(lease.runId);
    }
  }

  /**
   * Fails a run whose rounds could not be written `failures` times in a row for a reason that does not go away (a
   * value PostgreSQL refuses that no check caught): from its state as last written, everything it has going stopped
   * (RunInterpreter.abandon), the database's error as the reason. If even that cannot be written, the run is claimed
   * again when its lease expires.
   */
  private async abandon(lease: Lease, cause: unknown, failures: number): Promise<void> {
    try {
      const loaded = await this.store.load(lease.runId);
      if (!loaded || TERMINAL_RUN_STATUSES.includes(loaded.state.run.status)) return;
      const run = await this.open(lease, loaded);
      if (!run) return;
      const now = this.clock.now();
      const reason = describe(cause).slice(0, 500);
      run.interpreter.abandon(engineError(EngineErrorCode.RoundUnwritable, `the run's state could not be written (${failures} times in a row): ${reason}`), now);
      const round = run.interpreter.takeRound();
      const childRows = round.children.map((child) => this.registry.childRun(child, run.state.run, run.rootRunId, run.traceparent, now));
      // The attempts its steps had running (in a process that has let them go) are closed with them.
      const closed = closedAttempts(run.state, round);
      run.releasing = true;
      await this.persist(run, round, childRows, closed, now, { now });
      if (round.children.length > 0 || round.cancels.some((c) => c.kind === 'cancel_child')) this.poke();
      this.logger.error({ msg: 'workflow run failed: its rounds could not be written', run_id: lease.runId, failures, error: reason });
    } catch (error) {
      if (error instanceof LeaseLostError) return;
      this.logger.error({ msg: 'could not fail a workflow run whose rounds cannot be written; retried when its lease expires', run_id: lease.runId, error: describe(error) });
    }
  }

  private async open(lease: Lease, given?: LoadedRun): Promise<HeldRun | undefined> {
    const loaded = given ?? (await this.store.load(lease.runId));
    if (!loaded) return undefined;
    const { state } = loaded;
    const manifest = this.registry.definition(state.run.workflow, state.run.version);
    if (!manifest) {
      // The definition should always be in the registry (it is stored when registered); fail loudly, not silently.
      await this.failUnstartable(lease, loaded, `${state.run.workflow}@${state.run.version} is not registered on this executor`);
      return undefined;
    }
    const interpreter = new RunInterpreter(manifest, state, {
      newRunId: randomUUID,
      random: () => this.random.next(),
      secrets: this.secrets.valuesFor(manifest.security.secrets),
      validateOutput: (m, output) => this.registry.validateOutput(m, output),
      resolveRef: (ref) => this.registry.resolve(ref.name, ref.range)?.manifest.version,
    });
    return {
      lease,
      state,
      manifest,
      interpreter,
      traceparent: loaded.traceparent,
      rootRunId: loaded.rootRunId,
      parentRunId: loaded.parentRunId,
      inFlight: new Map(),
      results: [],
      lost: false,
      leaseUntil: (lease.takenAt ?? performance.now()) + this.config.WORKFLOW_LEASE_MS,
      deferred: [],
      poked: false,
    };
  }

  private async runUntilIdle(run: HeldRun): Promise<void> {
    for (;;) {
      if (run.lost) throw new LeaseLostError(run.lease.runId);
      if (performance.now() > run.leaseUntil) {
        // Renewals failed for a whole lease: another worker may hold the run by now. Nothing is written or launched
        // until a renewal extends the lease (nobody took it) or finds it lost. The attempts out are left to finish
        // (aborting one cannot take back what its provider was sent; a takeover repeats it with the same key), and
        // their results wait here.
        await this.leaseConfirmed(run);
        continue;
      }
      for (const command of run.deferred.splice(0)) if (stillRunning(run.state, command)) this.launch(run, command);
      if (run.poked) {
        run.poked = false;
        await this.store.refreshExternal(run.state);
      }
      const now = this.clock.now();
      const results = run.results.splice(0);
      for (const { command, invoked } of results) run.interpreter.applyActionResult(command.path, invoked.result, now);
      // What is out now, fixed for the whole round: an attempt that comes back while local actions run leaves
      // run.inFlight before its result is applied, and must not look like one whose process died.
      const inFlight = new Set(run.inFlight.keys());
      run.interpreter.advanceUntilStable(now, inFlight);
      const local = await this.performLocalActions(run, now, inFlight);
      const round = run.interpreter.takeRound();
      // Performed already (their start and end are written by this round); the others are launched once it is
      // written, unless the round itself already closed their step (a parallel branch that lost to a local one):
      // those attempts are written cancelled and never run.
      const performed = new Set(local.map((l) => l.command));
      const toLaunch: ActionCommand[] = [];
      const closed: AttemptResult[] = [];
      for (const command of round.actions) {
        if (performed.has(command)) continue;
        if (stillRunning(run.state, command)) toLaunch.push(command);
        else closed.push({ command, invoked: { result: { ok: false, error: engineError(EngineErrorCode.Cancelled, `step ${command.step_id} was closed before it ran`) } }, at: performance.now() });
      }
      const ended = TERMINAL_RUN_STATUSES.includes(run.state.run.status);
      const childRows = round.children.map((child) => this.registry.childRun(child, run.state.run, run.rootRunId, run.traceparent, now));
      // A child that cannot start is failed at birth: the parent must look again at once, not wait for a poke.
      const stillborn = childRows.filter((row) => row.status === 'failed');
      for (const row of stillborn) run.state.children.set(row.run_id, { id: row.run_id, status: 'failed', error: row.error ?? undefined });
      // Nothing left running here once this round is written: the same transaction lets the run go.
      const idle = toLaunch.length === 0 && run.inFlight.size === 0 && run.results.length === 0 && stillborn.length === 0;
      // An ended run with attempts still out waits for their aborts to return, so their attempt rows are closed.
      const release = idle || (ended && run.inFlight.size === 0) ? { nextWakeAt: ended ? undefined : round.nextWakeAt, now: this.clock.now() } : undefined;
      if (release) run.releasing = true;
      const written = await this.persist(run, round, childRows, [...results, ...local, ...closed], now, release);
      if (release && !written) await this.store.release(run.lease, release.nextWakeAt, release.now);
      for (const cancel of round.cancels) {
        if (cancel.kind === 'abort_action') run.inFlight.get(cancel.path)?.abort.abort();
      }
      if (round.children.length > 0 || round.cancels.some((c) => c.kind === 'cancel_child')) this.poke();
      if (release) return;
      if (results.length > 0 && toLaunch.length > 0) {
        // What the engine adds between steps: the results arrived, the round that follows from them is written.
        const arrived = Math.min(...results.map((r) => r.at));
        const waited = (performance.now() - arrived) / 1000;
        for (let i = 0; i < toLaunch.length; i++) workflowMetrics.scheduling.observe(waited);
      }
      // The round is written, but the lease may have lapsed since (its write was fenced, the launch is not).
      if (performance.now() > run.leaseUntil) run.deferred.push(...toLaunch);
      else for (const command of toLaunch) this.launch(run, command);
      if (ended) for (const { abort } of run.inFlight.values()) abort.abort();
      if (stillborn.length > 0 || run.deferred.length > 0) continue;
      await this.waitForNews(run, round.nextWakeAt);
    }
  }

  /** Until a renewal confirms the run's lease, or anything else wakes it (a result, its lease lost, the worker stopping). */
  private leaseConfirmed(run: HeldRun): Promise<void> {
    if (run.lost) return Promise.resolve();
    run.confirming = true;
    return new Promise<void>((resolve) => {
      run.wake = () => {
        run.wake = undefined;
        run.confirming = false;
        resolve();
      };
    });
  }

  /** Until an action returns, the run is poked, its lease is lost, or a timer of the run falls due. */
  private waitForNews(run: HeldRun, nextWakeAt: Date | undefined): Promise<void> {
    if (run.results.length > 0 || run.lost || run.poked) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        run.wake = undefined;
        resolve();
      };
      if (nextWakeAt) {
        // A wake-up past a timer's reach (a run timeout of 30 days) wakes early, finds nothing due and waits again.
        timer = setTimeout(done, timerDelay(nextWakeAt.getTime() - this.clock.now().getTime()));
        timer.unref();
      }
      run.wake = done;
    });
  }

  /**
   * Performs the local actions (ExecutorAction.local) the round being built starts, feeds their results back and
   * advances again, until the round starts no local action it has not performed (at most MAX_LOCAL_PASSES times):
   * a run of task steps is one round, one transaction, instead of a start and an end round per step. Nothing of
   * it is written yet: the round writes each attempt's start and end together, with its rows, or nothing.
   */
  private async performLocalActions(run: HeldRun, now: Date, inFlight: ReadonlySet<string>): Promise<AttemptResult[]> {
    const performed: AttemptResult[] = [];
    const seen = new Set<ActionCommand>();
    for (let pass = 0; pass < MAX_LOCAL_PASSES; pass++) {
      const due = run.interpreter.roundActions.filter((a) => !seen.has(a) && this.invoker.isLocal(a.action) && stillRunning(run.state, a));
      if (due.length === 0) break;
      for (const command of due) {
        seen.add(command);
        const invoked = await this.invokeTraced(run, command, new AbortController().signal);
        performed.push({ command, invoked, at: performance.now() });
        run.interpreter.applyActionResult(command.path, invoked.result, now);
      }
      run.interpreter.advanceUntilStable(now, inFlight);
    }
    return performed;
  }

  private launch(run: HeldRun, command: ActionCommand): void {
    const abort = new AbortController();
    run.inFlight.set(command.path, { command, abort });
    void this.invokeTraced(run, command, abort.signal).then((invoked) => {
      run.inFlight.delete(command.path);
      // Kept even when aborted: the attempt row is closed (as cancelled) and a stale result changes nothing.
      run.results.push({ command, invoked, at: performance.now() });
      run.wake?.();
    });
  }

  /** One attempt of an action in a span of its own (in the run's trace), with its duration and outcome counted. */
  private invokeTraced(run: HeldRun, command: ActionCommand, signal: AbortSignal): Promise<InvokedAction> {
    const parent = extractTraceContext(run.traceparent ? { traceparent: run.traceparent } : undefined);
    const span = getTracer().startSpan(
      `workflow.step ${command.step_id}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          'pancha.run_id': run.state.run.id,
          'pancha.workflow': `${run.state.run.workflow}@${run.state.run.version}`,
          'pancha.step.path': command.path,
          'pancha.step.action': command.action,
          'pancha.step.attempt': command.attempt,
        },
      },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    const launched = performance.now();
    return otelContext
      .with(spanContext, () =>
        this.invoker.invoke(command, {
          run: run.state.run,
          manifest: run.manifest,
          signal,
          secrets: this.secrets.valuesFor(run.manifest.security.secrets),
        }),
      )
      .catch((error: unknown): InvokedAction => ({
        result: { ok: false, error: engineError(EngineErrorCode.ActionNotAllowed, `action failed unexpectedly: ${describe(error)}`, true) },
      }))
      .then((invoked) => {
        if (!invoked.result.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: invoked.result.error.code });
        span.end();
        const labels = { workflow: run.state.run.workflow, action: command.action };
        workflowMetrics.attemptDuration.observe(labels, (performance.now() - launched) / 1000, { trace_id: span.spanContext().traceId });
        workflowMetrics.attempts.inc({ ...labels, outcome: invoked.result.ok ? 'completed' : signal.aborted ? 'cancelled' : 'failed' });
        return invoked;
      });
  }

  /**
   * One transaction: the run row (fence, state, and the release when `release` is given), the round's records,
   * attempts, children, events and the results' own rows; group-committed with the rounds of other runs that are
   * ready meanwhile. Returns false when the round changed nothing (no write).
   */
  private async persist(
    run: RoundOwner,
    round: Round,
    childRows: NewRun[],
    results: AttemptResult[],
    now: Date,
    release?: { nextWakeAt?: Date; now: Date },
  ): Promise<boolean> {
    const state = run.state;
    const dirty = [...round.dirtySteps].map((p) => state.steps.get(p)).filter((r) => r !== undefined);
    if (dirty.length === 0 && !round.runChanged && childRows.length === 0 && round.cancels.length === 0 && results.length === 0 && round.dirtySignals.size === 0) {
      return false;
    }
    const adopted: { lease: Lease; row: NewRun }[] = [];
    const toCancel = round.cancels.filter((c) => c.kind === 'cancel_child').map((c) => (c as { run_id: string }).run_id);
    const parentToPoke = round.runChanged && TERMINAL_RUN_STATUSES.includes(state.run.status) ? run.parentRunId : undefined;
    await this.rounds.submit({
      runId: run.lease.runId,
      context: extractTraceContext(run.traceparent ? { traceparent: run.traceparent } : undefined),
      round: () => ({
        lease: run.lease,
        run: state.run,
        release,
        steps: dirty,
        started: round.actions.map((a) => ({ path: a.path, attempt: a.attempt, idempotency_key: a.idempotency_key })),
        finished: results.map(({ command, invoked }) => ({
          path: command.path,
          attempt: command.attempt,
          status: attemptStatus(state, command.path, invoked.result),
          completed_at: now,
          error: invoked.result.ok ? undefined : invoked.result.error,
        })),
        worker: this.owner,
        now,
        locks: parentToPoke ? [...toCancel, parentToPoke] : toCancel,
      }),
      then: async (manager: EntityManager, tail: RoundTail) => {
        // Written again alone when its group had to be split: only the last attempt's children are adopted.
        adopted.length = 0;
        if (childRows.length > 0) {
          const children = childRows.map((row) => {
            // A child that can start is run here too, from the state in hand (no claim, no load).
            const lease = row.status === undefined ? this.offerLease(row.run_id) : undefined;
            if (lease) adopted.push({ lease, row });
            return lease ? { ...row, lease: { owner: this.owner, token: lease.token, ms: this.config.WORKFLOW_LEASE_MS } } : row;
          });
          await this.store.insertRuns(manager, children, now);
        }
        await this.store.requestCancel(manager, toCancel, now);
        await this.store.consumeSignals(manager, state.signals.filter((s) => round.dirtySignals.has(s.id)));
        if (parentToPoke) await this.store.poke(manager, [parentToPoke], now);
        // The action's own rows (a task, a captured message) commit with its step's completion, or not at all.
        for (const { invoked, command } of results) {
          if (invoked.result.ok && invoked.rows && state.steps.get(command.path)?.status === 'completed') tail.rows.push(...invoked.rows);
        }
        tail.messages.push(...this.events.messages(state, round.events, { rootRunId: run.rootRunId, isRoot: !run.parentRunId }));
      },
    });
    for (const { lease, row } of adopted) this.adopt(lease, { ...loadedFromNew(row, now), parentRunId: row.parent_run_id ?? undefined });
    if (round.runChanged && TERMINAL_RUN_STATUSES.includes(state.run.status)) {
      const { workflow, version, status } = state.run;
      workflowMetrics.runsEnded.inc({ workflow, version, status });
      if (state.run.started_at && state.run.completed_at) {
        workflowMetrics.runDuration.observe({ workflow, status }, (state.run.completed_at.getTime() - state.run.started_at.getTime()) / 1000, traceparentExemplar(run.traceparent));
      }
    }
    return true;
  }

  /**
   * Fails a run this executor has no definition for (no interpreter can run it) and lets it go, as any run's failure
   * ends: a round of its own through the same group commit, with its `workflow.failed` event (and Karma's
   * workflow_failure for a top-level run) in the outbox and its parent, a sub-workflow's run waiting on it, poked.
   * What it had going is stopped as a cancel stops it (failWithoutDefinition): its steps still pending or running end
   * cancelled, their attempts closed, and the child runs its steps started get their cancel in the same transaction.
   * A lease lost meanwhile writes nothing (LeaseLostError).
   */
  private async failUnstartable(lease: Lease, loaded: LoadedRun, message: string): Promise<void> {
    const { state } = loaded;
    const now = this.clock.now();
    const round = failWithoutDefinition(state, engineError(EngineErrorCode.WorkflowNotFound, message), now);
    const run: RoundOwner = { lease, state, traceparent: loaded.traceparent, rootRunId: loaded.rootRunId, parentRunId: loaded.parentRunId };
    await this.persist(run, round, [], closedAttempts(state, round), now, { now });
    if (round.cancels.some((c) => c.kind === 'cancel_child')) this.poke();
  }
}

/**
 * The attempts the steps a round cancelled still had open (in a process that let them go, or none: a crash), closed
 * as cancelled with their steps.
 */
function closedAttempts(state: RunState, round: Round): AttemptResult[] {
  const closed: AttemptResult[] = [];
  for (const cancel of round.cancels) {
    const rec = cancel.kind === 'abort_action' ? state.steps.get(cancel.path) : undefined;
    if (!rec || rec.attempts === 0) continue;
    const command: ActionCommand = { path: rec.path, step_id: rec.step_id, action: '', input: undefined, attempt: rec.attempts, idempotency_key: '' };
    closed.push({ command, invoked: { result: { ok: false, error: engineError(EngineErrorCode.Cancelled, `step ${rec.step_id} was cancelled`) } }, at: performance.now() });
  }
  return closed;
}

/**
 * A round that failed for a reason that writing it again will not change: PostgreSQL refusing the data (SQLSTATE
 * class 22, data exception: U+0000 in jsonb, a value out of range; class 54, a program limit) or the round not even
 * serialising (a TypeError or RangeError: a BigInt, an invalid Date). A lost connection or a deadlock is none of these.
 */
export function unwritableRound(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError) return true;
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type { ActionResult };

/** The step of `command` is still running that attempt (a later pass of the same round may have closed it). */
function stillRunning(state: RunState, command: ActionCommand): boolean {
  const rec = state.steps.get(command.path);
  return rec?.status === 'running' && rec.attempts === command.attempt;
}

/** How an attempt ends in its row: cancelled when its step was, or when it was stopped as cancelled; else by its result. */
function attemptStatus(state: RunState, path: string, result: ActionResult): 'completed' | 'failed' | 'cancelled' {
  const cancelled = state.steps.get(path)?.status === 'cancelled' || (!result.ok && result.error.code === EngineErrorCode.Cancelled);
  return cancelled ? 'cancelled' : result.ok ? 'completed' : 'failed';
}
