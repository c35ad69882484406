import { ApiError, paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { Duration, EmptyState, ErrorState, Json, Loading, StatusBadge, Time } from '../components/common';
import { Link } from '../router';
import type { BucketEntry, EventsPage, RunListResponse, RunView } from '../types';

/** Bucket entries of one trace read in one page (Bucket's largest). */
const AUDIT_LIMIT = 1000;
/** Runs of one trace listed (sub-runs included); each one's steps are read for at most this many. */
const RUN_LIMIT = 50;
/** The runs API filters by W3C trace ids only (32 lowercase hex); other ids have only Bucket entries. */
const W3C_TRACE = /^[0-9a-f]{32}$/;

export interface TraceItem {
  at: string;
  source: 'audit' | 'run' | 'step';
  key: string;
  entry?: BucketEntry;
  run?: { run_id: string; workflow: string; version: string };
  /** What happened: `started`, or the status it ended (or stands) in. */
  what: string;
  step?: string;
  duration_ms?: number | null;
}

export interface TraceData {
  items: TraceItem[];
  auditError?: ApiError;
  runsError?: ApiError;
  runsTruncated: boolean;
  auditTruncated: boolean;
}

const time = (iso: string) => {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? Number.MAX_SAFE_INTEGER : t;
};

/** Merges Bucket's entries and the runs (with their steps' start and end) into one list ordered by time. */
export function traceTimeline(entries: BucketEntry[], runs: RunView[]): TraceItem[] {
  const items: TraceItem[] = entries.map((e) => ({ at: e.created_at, source: 'audit', key: `a${e.seq}`, entry: e, what: e.event_type }));
  for (const r of runs) {
    const run = { run_id: r.run_id, workflow: r.workflow, version: r.version };
    items.push({ at: r.started_at ?? r.created_at, source: 'run', key: `r${r.run_id}s`, run, what: r.started_at ? 'started' : 'created' });
    if (r.completed_at) items.push({ at: r.completed_at, source: 'run', key: `r${r.run_id}e`, run, what: r.status, duration_ms: r.duration_ms });
    for (const s of r.steps ?? []) {
      if (s.started_at) items.push({ at: s.started_at, source: 'step', key: `s${r.run_id}${s.path}s`, run, step: s.path, what: 'started' });
      if (s.completed_at) items.push({ at: s.completed_at, source: 'step', key: `s${r.run_id}${s.path}e`, run, step: s.path, what: s.status, duration_ms: s.duration_ms });
    }
  }
  // Stable: at the same instant, the order above (audit by seq, then a run before its steps) stays.
  return items.map((it, i) => ({ it, i })).sort((a, b) => time(a.it.at) - time(b.it.at) || a.i - b.i).map(({ it }) => it);
}

const asError = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, 'client', String(e), null));

/**
 * PRANA's own timeline of one trace, for users without Jaeger: Bucket's entries for the trace and the trace's
 * runs (sub-runs too) with their steps' start and end, merged by time. Either source failing still shows the other.
 */
export function TraceView({ traceId }: { traceId: string }) {
  const { api, jaegerUrl } = useApp();
  const load = async (): Promise<TraceData> => {
    const audit = api.get<EventsPage>(paths.auditEvents({ trace_id: traceId, limit: AUDIT_LIMIT }));
    const runs = W3C_TRACE.test(traceId)
      ? api.get<RunListResponse>(paths.runs({ trace_id: traceId, include_children: 'true', limit: RUN_LIMIT })).then((l) =>
          Promise.all(l.runs.map((r) => api.get<RunView>(paths.run(r.run_id)))).then((views) => ({ views, more: l.next_cursor !== null })),
        )
      : Promise.resolve({ views: [] as RunView[], more: false });
    const [a, r] = await Promise.allSettled([audit, runs]);
    const entries = a.status === 'fulfilled' ? a.value.events : [];
    const views = r.status === 'fulfilled' ? r.value.views : [];
    return {
      items: traceTimeline(entries, views),
      auditError: a.status === 'rejected' ? asError(a.reason) : undefined,
      runsError: r.status === 'rejected' ? asError(r.reason) : undefined,
      auditTruncated: a.status === 'fulfilled' && a.value.next_after_seq !== null,
      runsTruncated: r.status === 'fulfilled' && r.value.more,
    };
  };
  const trace = useLoad(load, traceId);
  const d = trace.data;
  return (
    <>
      <h1>
        Trace <code className="hash">{traceId}</code>
      </h1>
      <p className="actions">
        <a href={`${jaegerUrl.replace(/\/$/, '')}/trace/${encodeURIComponent(traceId)}`} target="_blank" rel="noopener noreferrer" aria-label={`Trace ${traceId} in Jaeger (opens a new tab)`}>
          Jaeger ↗
        </a>{' '}
        · <Link to={`/audit?trace_id=${encodeURIComponent(traceId)}`}>Audit entries only</Link>{' '}
        · <button type="button" onClick={trace.reload} disabled={trace.loading}>{trace.loading ? 'Loading…' : 'Refresh'}</button>
      </p>
      {trace.error && <ErrorState error={trace.error} what={`trace ${traceId}`} />}
      {!d && !trace.error && <Loading what="the trace" />}
      {d && (
        <>
          {d.auditError && <ErrorState error={d.auditError} what="the audit entries of this trace (showing the runs only)" />}
          {d.runsError && <ErrorState error={d.runsError} what="the runs of this trace (showing the audit entries only)" />}
          {d.auditTruncated && <p className="muted">Only the first {AUDIT_LIMIT} audit entries are shown.</p>}
          {d.runsTruncated && <p className="muted">Only the first {RUN_LIMIT} runs are shown.</p>}
          {d.items.length === 0 && !d.auditError && !d.runsError && <EmptyState>Nothing is recorded for this trace.</EmptyState>}
          {d.items.length > 0 && (
            <ol className="trace-timeline" aria-label="Trace timeline">
              {d.items.map((it) => (
                <li key={it.key} className={`trace-${it.source}`} data-source={it.source}>
                  <Time iso={it.at} /> <span className="badge">{it.source}</span>{' '}
                  {it.source === 'audit' && it.entry ? (
                    <>
                      <code>{it.entry.event_type}</code> <span className="muted">#{it.entry.seq}</span> <Json value={it.entry.event_data} label={`audit entry ${it.entry.seq}`} />
                    </>
                  ) : it.run ? (
                    <>
                      <Link to={`/runs/${it.run.run_id}`}>
                        {it.run.workflow} {it.run.version}
                      </Link>
                      {it.step && (
                        <>
                          {' '}
                          step <code>{it.step}</code>
                        </>
                      )}{' '}
                      {it.what === 'started' || it.what === 'created' ? it.what : <StatusBadge status={it.what} />}
                      {typeof it.duration_ms === 'number' && (
                        <>
                          {' '}
                          after <Duration ms={it.duration_ms} />
                        </>
                      )}
                    </>
                  ) : null}
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </>
  );
}
