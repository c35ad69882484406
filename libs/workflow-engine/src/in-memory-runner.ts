import { randomUUID } from 'node:crypto';
import { TERMINAL_RUN_STATUSES, type WorkflowManifest } from '@pancha/workflow-manifest';
import { checkedChildInputs } from './child-inputs';
import { type ActionCommand, type ActionResult, type ChildRunCommand, type EngineEvent, type InterpreterDeps, RunInterpreter } from './interpreter';
import type { ChildRunView, RunRecord, RunState, StepRecord } from './run-state';

export interface InMemoryRunOptions {
  manifest: WorkflowManifest;
  inputs: Record<string, unknown>;
  /** Performs (or stubs) an action attempt. */
  action(command: ActionCommand): Promise<ActionResult> | ActionResult;
  /**
   * A sub-workflow or fallback run: return its end state to stand in for it (a stub), or undefined to run it
   * here too (needs `manifestOf`).
   */
  child?(command: ChildRunCommand, parentStepId: string | undefined): ChildRunView | undefined;
  manifestOf?(name: string, version: string): WorkflowManifest | undefined;
  /** Signals waiting for the run from its start (approvals consume them in order). */
  signals?: { name: string; payload: unknown }[];
  pins?: Record<string, string>;
  secrets?: Record<string, string>;
  /** The fake clock's start; timers and backoffs move it forward, nothing waits for real. */
  startAt?: Date;
  user_id?: string;
  product?: string;
  deps?: Partial<InterpreterDeps>;
  /** Guards against a manifest that never ends (e.g. waiting for a signal nobody sends). */
  maxRounds?: number;
  /** The runs this one is a sub-workflow of (`name@version`, outermost first): set by runChild, not by callers. */
  ancestry?: readonly string[];
}

export interface InMemoryRunResult {
  run: RunRecord;
  steps: StepRecord[];
  events: EngineEvent[];
  /** Leaf steps (not groups, switches, parallels or foreach containers) that started, in start order. */
  stepsTaken: string[];
  /** Set when the run stopped without ending: what it is waiting for. */
  stuck?: string;
  /** The fake clock when it ended. */
  endedAt: Date;
}

const CONTAINER_KINDS = new Set(['group', 'switch', 'parallel', 'foreach']);

/**
 * Runs a workflow to its end in memory with the same interpreter the executor uses: no database, no services,
 * a fake clock. `pancha workflows test` and the engine's own tests use it.
 */
export async function runInMemory(options: InMemoryRunOptions): Promise<InMemoryRunResult> {
  let now = options.startAt ?? new Date('2026-01-01T00:00:00.000Z');
  const run: RunRecord = {
    id: randomUUID(),
    workflow: options.manifest.name,
    version: options.manifest.version,
    status: 'pending',
    inputs: options.inputs,
    user_id: options.user_id,
    product: options.product,
    trace_id: randomUUID().replace(/-/g, ''),
    pins: options.pins ?? {},
    cancel_requested: false,
    created_at: now,
    deadline_at: options.manifest.timeout_ms !== undefined ? new Date(now.getTime() + options.manifest.timeout_ms) : undefined,
  };
  const state: RunState = {
    run,
    steps: new Map(),
    signals: (options.signals ?? []).map((s) => ({ id: randomUUID(), name: s.name, payload: s.payload, received_at: now })),
    children: new Map(),
  };
  const interpreter = new RunInterpreter(options.manifest, state, {
    newRunId: randomUUID,
    secrets: options.secrets,
    random: () => 0.5,
    ...options.deps,
  });
  const events: EngineEvent[] = [];
  const taken: string[] = [];
  const seen = new Set<string>();
  const noteStarts = (): void => {
    for (const rec of state.steps.values()) {
      if (seen.has(rec.path) || rec.status === 'pending' || rec.status === 'skipped' || CONTAINER_KINDS.has(rec.kind)) continue;
      seen.add(rec.path);
      if (!taken.includes(rec.step_id)) taken.push(rec.step_id);
    }
  };

  const maxRounds = options.maxRounds ?? 10_000;
  for (let rounds = 0; rounds < maxRounds; rounds++) {
    interpreter.advance(now);
    const round = interpreter.takeRound();
    events.push(...round.events);
    noteStarts();
    for (const child of round.children) {
      const parentStep = child.parent_step_path ? state.steps.get(child.parent_step_path)?.step_id : undefined;
      const view = options.child?.(child, parentStep) ?? (await runChild(options, child, now));
      if (child.relation !== 'run_fallback') state.children.set(child.run_id, { ...view, id: child.run_id });
    }
    for (const cancel of round.cancels) {
      if (cancel.kind === 'cancel_child') {
        const child = state.children.get(cancel.run_id);
        if (child && !TERMINAL_RUN_STATUSES.includes(child.status)) child.status = 'cancelled';
      }
    }
    for (const command of round.actions) {
      interpreter.applyActionResult(command.path, await options.action(command), now);
    }
    events.push(...interpreter.takeRound().events);
    if (TERMINAL_RUN_STATUSES.includes(run.status)) break;
    if (round.actions.length > 0 || round.children.length > 0 || round.dirtySteps.size > 0) continue;
    if (round.nextWakeAt && round.nextWakeAt > now) {
      now = round.nextWakeAt;
      continue;
    }
    return { run, steps: [...state.steps.values()], events, stepsTaken: taken, stuck: describeWait(state), endedAt: now };
  }
  return {
    run,
    steps: [...state.steps.values()],
    events,
    stepsTaken: taken,
    stuck: TERMINAL_RUN_STATUSES.includes(run.status) ? undefined : `no end after ${maxRounds} rounds`,
    endedAt: now,
  };
}

async function runChild(options: InMemoryRunOptions, child: ChildRunCommand, now: Date): Promise<ChildRunView> {
  const manifest = options.manifestOf?.(child.workflow, child.version);
  if (!manifest) {
    return {
      id: child.run_id,
      status: 'failed',
      error: { code: 'workflow_not_found', message: `${child.workflow}@${child.version} is not available here`, retryable: false },
    };
  }
  // A workflow that reaches itself again (a cycle the set checks did not see, e.g. a file tested alone) would recurse
  // until the stack overflowed: the repeated run fails instead, naming the chain.
  const ancestry = [...(options.ancestry ?? [`${options.manifest.name}@${options.manifest.version}`])];
  const self = `${manifest.name}@${manifest.version}`;
  if (ancestry.includes(self)) {
    return {
      id: child.run_id,
      status: 'failed',
      error: { code: 'workflow_cycle', message: `sub-workflows form a cycle: ${[...ancestry, self].join(' → ')}`, retryable: false },
    };
  }
  const taken = checkedChildInputs(child, manifest);
  if ('error' in taken) return { id: child.run_id, status: 'failed', error: taken.error };
  const result = await runInMemory({ ...options, manifest, inputs: taken.inputs, signals: [], startAt: now, ancestry: [...ancestry, self] });
  return { id: child.run_id, status: result.run.status, output: result.run.output, error: result.run.error };
}

function describeWait(state: RunState): string {
  const waiting = [...state.steps.values()].filter((r) => r.status === 'running' && !CONTAINER_KINDS.has(r.kind));
  if (waiting.length === 0) return 'the run is waiting and nothing can move it';
  return waiting.map((r) => `${r.path} (${r.kind})`).join(', ') + ' still waiting';
}
