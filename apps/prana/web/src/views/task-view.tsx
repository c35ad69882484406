import { useState } from 'react';
import { paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { ErrorState, Json, Loading, StatusBadge, Time, TraceLink } from '../components/common';
import { FALLBACK_POLL_MS, LiveBadge, useLive } from '../live';
import { Link } from '../router';
import type { CoreTaskView, RunSummaryView } from '../types';

/**
 * A task is written once with its decision; after that, what moves is its trace in Bucket (the dispatch, the
 * outcome, the entries of the run it started) and the run itself. So the page follows the task's trace on the live
 * stream (`audit:trace:<trace_id>`: each new Bucket entry of the trace reloads the task, which is how a task still
 * `dispatching` on the legacy executor path learns its outcome) and, when it started a run, the run
 * (`run:<run_id>`, sub-runs included). It polls only while the stream is down.
 */
export function TaskView({ taskId }: { taskId: string }) {
  const { api } = useApp();
  const [runNow, setRunNow] = useState<RunSummaryView>();
  const [runId, setRunId] = useState<string | null>(null);
  const [traceId, setTraceId] = useState<string | null>(null);
  const topics = [traceId && `audit:trace:${traceId}`, runId && `run:${runId}`].filter((t): t is string => !!t);
  const live = useLive(topics, {
    onRuns: (runs) => {
      const mine = runs.find((r) => r.run_id === runId);
      if (mine) setRunNow(mine);
      task.reload();
    },
    onAudit: () => task.reload(),
    onReconnect: () => task.reload(),
  });
  const task = useLoad(
    () =>
      api.get<CoreTaskView>(paths.task(taskId)).then((t) => {
        setRunId(t.run_id ?? null);
        setTraceId(t.trace_id ?? null);
        return t;
      }),
    taskId,
    topics.length && live === 'down' ? FALLBACK_POLL_MS : undefined,
  );
  if (task.error && !task.data) return <ErrorState error={task.error} what={`task ${taskId}`} />;
  const t = task.data;
  if (!t) return <Loading what="the task" />;
  return (
    <>
      <h1>
        Task <code>{t.task_id.slice(0, 8)}</code> <LiveBadge state={live} />
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
