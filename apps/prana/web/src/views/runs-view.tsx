import { useState, type FormEvent } from 'react';
import { ApiError, paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { Duration, EmptyState, ErrorState, Loading, Pager, StatusBadge, TableScroll, Time, TraceLink, useCursorPager } from '../components/common';
import { useProductField } from '../components/product-field';
import { FALLBACK_POLL_MS, LiveBadge, useLive } from '../live';
import { Link } from '../router';
import type { HandleTaskAccepted, RunListResponse } from '../types';

const STATUSES = ['', 'pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out'];
const PAGE = 50;

/** "Submit a task in words": POST /handle_task as the signed-in user, for their product when they are restricted to some. */
export function SubmitTask() {
  const { api, session, can } = useApp();
  const [input, setInput] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<HandleTaskAccepted>();
  const [error, setError] = useState<ApiError>();
  const product = useProductField('task-product');
  if (!can('submit:tasks')) return null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!product.check()) return;
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api.post<HandleTaskAccepted>(paths.handleTask, { input, user_id: session.user.username, ...product.body }));
      setInput('');
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="submit-task-h" className="card">
      <h2 id="submit-task-h">Submit a task</h2>
      <form onSubmit={submit}>
        <label htmlFor="task-input">What should Pancha do?</label>
        <textarea id="task-input" value={input} onChange={(e) => setInput(e.target.value)} required maxLength={10_000} rows={3} />
        {product.field}
        <button type="submit" disabled={busy || !input.trim()}>
          {busy ? 'Submitting…' : 'Submit task'}
        </button>
      </form>
      {error && <ErrorState error={error} what="the task" />}
      {result && (
        <p role="status" className="ok">
          Task <code>{result.task_id}</code> accepted ({result.status}).{' '}
          {result.run_id ? (
            <Link to={`/runs/${result.run_id}`}>Watch its run ({result.workflow})</Link>
          ) : (
            <Link to={`/tasks/${result.task_id}`}>Follow the task</Link>
          )}{' '}
          <TraceLink traceId={result.trace_id} />
        </p>
      )}
    </section>
  );
}

export function RunsList({ workflow: fixedWorkflow }: { workflow?: string }) {
  const { api } = useApp();
  const [status, setStatus] = useState('');
  const [workflow, setWorkflow] = useState(fixedWorkflow ?? '');
  const [since, setSince] = useState('');
  const pager = useCursorPager();
  const query = { workflow: fixedWorkflow ?? (workflow || undefined), status: status || undefined, since: since ? new Date(since).toISOString() : undefined, limit: PAGE, cursor: pager.cursor };
  const key = JSON.stringify(query);
  // Pushes patch the list (or reload it for a new run); it polls slowly only while the stream is down.
  const state = useLive(['runs'], {
    onRuns: (pushed) => {
      const current = runs.data;
      const top = pushed.filter((r) => r.parent_run_id === null && (!query.workflow || r.workflow === query.workflow));
      if (!current || top.length === 0) return;
      const byId = new Map(top.map((r) => [r.run_id, r]));
      const fresh = top.some((r) => !current.runs.some((c) => c.run_id === r.run_id));
      // A new run (first page only) or a status filter the change may leave: ask again; otherwise patch in place.
      if ((fresh && !pager.cursor) || (query.status && current.runs.some((c) => byId.has(c.run_id)))) runs.reload();
      else if (current.runs.some((c) => byId.has(c.run_id))) runs.set({ ...current, runs: current.runs.map((c) => ({ ...c, ...(byId.get(c.run_id) ?? {}) })) });
    },
    onReconnect: () => runs.reload(),
  });
  const runs = useLoad(() => api.get<RunListResponse>(paths.runs(query)), key, state === 'down' ? FALLBACK_POLL_MS : undefined);
  const onFilter = (fn: () => void) => {
    fn();
    pager.reset();
  };
  return (
    <section aria-labelledby="runs-h" className="card">
      <h2 id="runs-h">
        Runs <LiveBadge state={state} />
      </h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter runs">
        {!fixedWorkflow && (
          <label>
            Workflow
            <input value={workflow} onChange={(e) => onFilter(() => setWorkflow(e.target.value.trim()))} placeholder="any" pattern="[a-z0-9][a-z0-9\-]{0,63}" />
          </label>
        )}
        <label>
          Status
          <select value={status} onChange={(e) => onFilter(() => setStatus(e.target.value))}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since
          <input type="datetime-local" value={since} onChange={(e) => onFilter(() => setSince(e.target.value))} />
        </label>
      </form>
      {runs.error && <ErrorState error={runs.error} what="runs" />}
      {!runs.data && !runs.error && <Loading what="runs" />}
      {runs.data && runs.data.runs.length === 0 && <EmptyState>No runs match these filters.</EmptyState>}
      {runs.data && runs.data.runs.length > 0 && (
        <TableScroll label="Runs table">
          <table>
            <caption className="sr-only">Runs, newest first, updated live</caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Workflow</th>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
                <th scope="col">User</th>
                <th scope="col">Trace</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.runs.map((r) => (
                <tr key={r.run_id}>
                  <td>
                    <Link to={`/runs/${r.run_id}`}>
                      <code>{r.run_id.slice(0, 8)}</code>
                    </Link>
                  </td>
                  <td>
                    <Link to={`/workflows/${encodeURIComponent(r.workflow)}`}>{r.workflow}</Link> <span className="muted">{r.version}</span>
                  </td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td>
                    <Time iso={r.started_at ?? r.created_at} />
                  </td>
                  <td>
                    <Duration ms={r.duration_ms} />
                  </td>
                  <td>{r.user_id ?? <span className="muted">—</span>}</td>
                  <td>
                    <TraceLink traceId={r.trace_id} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {runs.data && <Pager page={pager.page} hasNext={!!runs.data.next_cursor} onNext={() => runs.data?.next_cursor && pager.next(runs.data.next_cursor)} onPrev={pager.prev} />}
    </section>
  );
}

export function RunsView() {
  return (
    <>
      <h1>Tasks and runs</h1>
      <SubmitTask />
      <p>
        <Link to="/workflows">Start a workflow from its form →</Link>
      </p>
      <RunsList />
    </>
  );
}
