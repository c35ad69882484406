import { useState } from 'react';
import { paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { ErrorState, Json, Loading, StatusBadge, Time, TraceLink } from '../components/common';
import { FALLBACK_POLL_MS, LiveBadge, useLive } from '../live';
import { Link } from '../router';
import type { CoreTaskView, RunSummaryView } from '../types';

/** How often a task still being dispatched (no run yet: the runs feed cannot tell its outcome) is reloaded. */
export const DISPATCH_POLL_MS = 2_000;

/**
 * A task is written once with its decision; after that, what moves is the run it started (and the Bucket entries
 * the run writes). So the page follows the run on the live stream (`run:<run_id>`, which also carries sub-runs) and
 * reloads the task on each push; it polls only while the stream is down, or while the task is still `dispatching`
 * (the legacy executor path has no run in the feed).
 */
export function TaskView({ taskId }: { taskId: string }) {
  const { api } = useApp();
  const [runNow, setRunNow] = useState<RunSummaryView>();
  const [runId, setRunId] = useState<string | null>(null);
  const live = useLive(runId ? [`run:${runId}`] : [], {
    onRuns: (runs) => {
      const mine = runs.find((r) => r.run_id === runId);
      if (mine) setRunNow(mine);
      task.reload();
    },
    onReconnect: () => task.reload(),
  });
  const dispatching = (s: string | undefined) => s === 'dispatching';
  const [status, setStatus] = useState<string>();
  const pollMs = dispatching(status) ? DISPATCH_POLL_MS : runId && live === 'down' ? FALLBACK_POLL_MS : undefined;
  const task = useLoad(
    () =>
      api.get<CoreTaskView>(paths.task(taskId)).then((t) => {
        setStatus(t.status);
        setRunId(t.run_id ?? null);
        return t;
      }),
    taskId,
    pollMs,
  );
  if (task.error && !task.data) return <ErrorState error={task.error} what={`task ${taskId}`} />;
  const t = task.data;
  if (!t) return <Loading what="the task" />;
  return (
    <>
      <h1>
        Task <code>{t.task_id.slice(0, 8)}</code> {t.run_id && <LiveBadge state={live} />}
      </h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={t.status} />
        </dd>
        <dt>Trace</dt>
        <dd>
          <TraceLink traceId={t.trace_id} />
        </dd>
        <dt>User</dt>
        <dd>{t.user_id}</dd>
        <dt>Created</dt>
        <dd>
          <Time iso={t.created_at} />
        </dd>
        {t.run_id && (
          <>
            <dt>Run</dt>
            <dd>
              <Link to={`/runs/${t.run_id}`}>{t.workflow ?? t.run_id}</Link>{' '}
              {runNow && runNow.run_id === t.run_id && <StatusBadge status={runNow.status} />}
            </dd>
          </>
        )}
      </dl>
      {task.error && <ErrorState error={task.error} what="the latest state (showing the last one)" />}
      <h2>Decision</h2>
      <Json value={t.decision} label="decision" />
      <h2>Result</h2>
      <Json value={t.execution_result} label="execution result" />
      <h2>Timeline</h2>
      <ol>
        {t.timeline.map((e) => (
          <li key={e.seq}>
            <code>{e.event_type}</code> <Time iso={e.created_at} /> <Json value={e.event_data} label={`event ${e.seq}`} />
          </li>
        ))}
      </ol>
    </>
  );
}
