import { paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { ErrorState, Json, Loading, StatusBadge, Time, TraceLink } from '../components/common';
import { Link } from '../router';
import type { CoreTaskView } from '../types';

export function TaskView({ taskId }: { taskId: string }) {
  const { api } = useApp();
  const task = useLoad(() => api.get<CoreTaskView>(paths.task(taskId)), taskId, 2_000);
  if (task.error && !task.data) return <ErrorState error={task.error} what={`task ${taskId}`} />;
  const t = task.data;
  if (!t) return <Loading what="the task" />;
  return (
    <>
      <h1>
        Task <code>{t.task_id.slice(0, 8)}</code>
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
              <Link to={`/runs/${t.run_id}`}>{t.workflow ?? t.run_id}</Link>
            </dd>
          </>
        )}
      </dl>
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
