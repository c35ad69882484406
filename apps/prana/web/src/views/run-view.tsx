import { Background, Controls, MarkerType, ReactFlow, useNodesState, type Edge, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useEffect, useMemo, useState } from 'react';
import { ApiError, paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { Duration, ErrorState, Json, Loading, StatusBadge, TableScroll, Time, TraceLink } from '../components/common';
import { FALLBACK_POLL_MS, LiveBadge, useLive } from '../live';
import { Link } from '../router';
import type { RunStepView, RunView as Run } from '../types';

const ACTIVE = new Set(['pending', 'running']);
const RETRYABLE = new Set(['failed', 'cancelled', 'timed_out']);

/** Depth of a step from its path (`notify.mail`, `notify/mail` or `per_platform[0].x`): nested steps sit to the right. */
function depth(path: string): number {
  return path.split(/[./]/).filter(Boolean).length - 1;
}

export function stepGraph(steps: RunStepView[]): { nodes: Node[]; edges: Edge[] } {
  const nodes: Node[] = steps.map((s, i) => ({
    id: s.path,
    position: { x: depth(s.path) * 220, y: i * 90 },
    data: { label: `${s.step_id} · ${s.kind} · ${s.status}` },
    className: `flow-node flow-${s.status.replace(/[^a-z_]/gi, '')}`,
    ariaLabel: `Step ${s.step_id}, ${s.kind}, ${s.status}`,
  }));
  const edges: Edge[] = [];
  for (let i = 1; i < steps.length; i++) {
    // The closest earlier step one level up is the parent; else the previous step at the same level.
    const d = depth(steps[i].path);
    let from = -1;
    for (let j = i - 1; j >= 0; j--) {
      if (depth(steps[j].path) <= d) {
        from = j;
        break;
      }
    }
    if (from < 0) from = i - 1;
    edges.push({ id: `${steps[from].path}->${steps[i].path}`, source: steps[from].path, target: steps[i].path, markerEnd: { type: MarkerType.ArrowClosed } });
  }
  return { nodes, edges };
}

/** The signal an approval step waits for, from the run's manifest (falls back to the step id). */
export function approvalSignal(manifest: unknown, stepId: string): string {
  let found: string | undefined;
  const walk = (v: unknown) => {
    if (found || !v || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(walk);
    const o = v as Record<string, unknown>;
    if (o.id === stepId) {
      const approval = o.approval as { signal?: string } | undefined;
      if (approval?.signal) found = approval.signal;
      else if (typeof o.signal === 'string') found = o.signal;
    }
    Object.values(o).forEach(walk);
  };
  walk(manifest);
  return found ?? stepId;
}

export function RunView({ runId }: { runId: string }) {
  const { api, can } = useApp();
  // A push for this run (or one of its sub-runs) reloads it; it polls slowly only while the stream is down.
  const live = useLive([`run:${runId}`], { onRuns: () => run.reload(), onReconnect: () => run.reload() });
  const run = useLoad(() => api.get<Run>(paths.run(runId)), runId, live === 'down' ? FALLBACK_POLL_MS : undefined);
  // Tolerate a run view without steps/attempts/signals/warnings (queued runs, an older Core or executor): never a blank
  // page. Made again only when the run is loaded again, so the graph below keeps its nodes across the page's other renders.
  const r = useMemo(
    () =>
      run.data
        ? {
            ...run.data,
            steps: (run.data.steps ?? []).map((s) => ({ ...s, attempts: s.attempts ?? [] })),
            signals: run.data.signals ?? [],
            warnings: run.data.warnings ?? [],
          }
        : undefined,
    [run.data],
  );
  const manifest = useLoad(() => (r ? api.get<unknown>(paths.workflowVersion(r.workflow, r.version)) : Promise.resolve(null)), r ? `${r.workflow}@${r.version}` : '');
  const [actionError, setActionError] = useState<ApiError>();
  const [busy, setBusy] = useState('');
  const [selected, setSelected] = useState<string>();
  const graph = useMemo(() => stepGraph(r?.steps ?? []), [r?.steps]);
  // React Flow shows a node once it has measured it, and a node object without `measured` is a node to measure again:
  // handing it new objects on every reload hid the graph (sometimes for good: nothing resized, so nothing re-measured).
  // The nodes are state that keeps each node's measured size (onNodesChange records it), carried into a reload's nodes.
  const [nodes, setNodes, onNodesChange] = useNodesState<Node>([]);
  useEffect(() => {
    setNodes((current) => {
      const measured = new Map(current.map((n) => [n.id, n.measured]));
      return graph.nodes.map((n) => ({ ...n, measured: measured.get(n.id) }));
    });
  }, [graph, setNodes]);

  if (run.error && !r) return <ErrorState error={run.error} what={`run ${runId}`} />;
  if (!r) return <Loading what="the run" />;

  const act = async (label: string, call: () => Promise<unknown>) => {
    setBusy(label);
    setActionError(undefined);
    try {
      await call();
      run.reload();
    } catch (e) {
      setActionError(e as ApiError);
    } finally {
      setBusy('');
    }
  };
  const operate = can('operate:runs');
  const waiting = r.steps.filter((s) => s.kind === 'approval' && (s.status === 'running' || s.status === 'waiting'));
  const step = r.steps.find((s) => s.path === selected);

  return (
    <>
      <h1>
        Run <code>{r.run_id.slice(0, 8)}</code> of <Link to={`/workflows/${encodeURIComponent(r.workflow)}`}>{r.workflow}</Link> {r.version} <LiveBadge state={live} />
      </h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={r.status} /> {r.cancel_requested && r.status === 'running' && <span className="muted">(cancel requested)</span>}
        </dd>
        <dt>Trace</dt>
        <dd>
          <TraceLink traceId={r.trace_id} />
        </dd>
        <dt>User</dt>
        <dd>{r.user_id ?? '—'}</dd>
        <dt>Started by</dt>
        <dd>{r.actor ?? '—'}</dd>
        <dt>Created</dt>
        <dd>
          <Time iso={r.created_at} />
        </dd>
        <dt>Duration</dt>
        <dd>
          <Duration ms={r.duration_ms} />
        </dd>
      </dl>
      {run.error && <ErrorState error={run.error} what="the latest state (showing the last one)" />}
      {r.error && (
        <p className="error-state" role="note">
          {r.error.code}: {r.error.message}
        </p>
      )}
      {operate && (
        <div className="actions" role="group" aria-label="Run actions">
          {ACTIVE.has(r.status) && (
            <button type="button" className="danger" disabled={!!busy} onClick={() => act('cancel', () => api.post(paths.runAction(r.run_id, 'cancel')))}>
              {busy === 'cancel' ? 'Cancelling…' : 'Cancel run'}
            </button>
          )}
          {RETRYABLE.has(r.status) && (
            <button type="button" disabled={!!busy} onClick={() => act('retry', () => api.post(paths.runAction(r.run_id, 'retry')))}>
              {busy === 'retry' ? 'Retrying…' : 'Retry run'}
            </button>
          )}
          {/* The signal name comes from the manifest: no approve button until it is known (or failed to load). */}
          {(manifest.data || manifest.error) && waiting.map((s) => {
            const signal = approvalSignal(manifest.data, s.step_id);
            return (
              // One Idempotency-Key per wait of the step (its path and when it started): a click again after Core
              // could not say whether the approval arrived (a 504) is answered with the first, never a second signal.
              <button
                type="button"
                key={s.path}
                disabled={!!busy}
                onClick={() => act(`approve ${s.path}`, () => api.post(paths.signal(r.run_id, signal), { payload: { approved: true } }, { 'idempotency-key': `approve:${r.run_id}:${s.path}:${s.started_at ?? ''}` }))}
              >
                Approve {s.step_id}
              </button>
            );
          })}
        </div>
      )}
      {actionError && <ErrorState error={actionError} what="that action" />}
      {/* What the start was warned of (a deprecated version, inputs migrated from an older major): accepted all the same. */}
      {r.warnings.length > 0 && (
        <section aria-labelledby="warnings-h" className="card">
          <h2 id="warnings-h">Warnings</h2>
          <p className="muted">What its start was warned of:</p>
          <ul>
            {r.warnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="graph-h" className="card">
        <h2 id="graph-h">Steps</h2>
        {r.steps.length === 0 ? (
          <p className="empty-state">No step has started yet.</p>
        ) : (
          <div className="graph" data-testid="run-graph">
            <ReactFlow nodes={nodes} onNodesChange={onNodesChange} edges={graph.edges} fitView nodesDraggable={false} nodesConnectable={false} onNodeClick={(_, n) => setSelected(n.id)} proOptions={{ hideAttribution: true }}>
              <Background />
              <Controls showInteractive={false} />
            </ReactFlow>
          </div>
        )}
        <TableScroll label="Steps table">
          <table>
            <caption className="sr-only">Steps with their attempts</caption>
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
              </tr>
            </thead>
            <tbody>
              {r.steps.map((s) => (
                <tr key={s.path} aria-selected={s.path === selected}>
                  <td>
                    <button type="button" className="link-button" onClick={() => setSelected(s.path)}>
                      {s.path}
                    </button>
                  </td>
                  <td>{s.kind}</td>
                  <td>
                    <StatusBadge status={s.status} />
                  </td>
                  <td>{s.attempts.length}</td>
                  <td>
                    <Time iso={s.started_at} />
                  </td>
                  <td>
                    <Duration ms={s.duration_ms} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      </section>
      {step && (
        <section aria-labelledby="step-h" className="card">
          <h2 id="step-h">Step {step.path}</h2>
          {step.error && (
            <p className="error-state">
              {step.error.code}: {step.error.message}
            </p>
          )}
          {step.child_run_id && (
            <p>
              Sub-run: <Link to={`/runs/${step.child_run_id}`}>{step.child_run_id.slice(0, 8)}</Link>
            </p>
          )}
          <h3>Attempts</h3>
          <ol>
            {step.attempts.map((a) => (
              <li key={a.attempt}>
                #{a.attempt} <StatusBadge status={a.status} /> <Time iso={a.started_at} /> · <Duration ms={a.duration_ms} />
                {a.error && (
                  <span className="muted">
                    {' '}
                    — {a.error.code}: {a.error.message}
                  </span>
                )}
              </li>
            ))}
          </ol>
          <h3>Input</h3>
          <Json value={step.input} label="step input" />
          <h3>Output</h3>
          <Json value={step.output} label="step output" />
        </section>
      )}
      <section aria-labelledby="io-h" className="card">
        <h2 id="io-h">Inputs and output</h2>
        <h3>Inputs</h3>
        <Json value={r.inputs} label="run inputs" />
        <h3>Output</h3>
        <Json value={r.output} label="run output" />
        {r.signals.length > 0 && (
          <>
            <h3>Signals</h3>
            <ul>
              {r.signals.map((s, i) => (
                <li key={i}>
                  {s.name} from {s.sender} at <Time iso={s.received_at} />
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
    </>
  );
}
