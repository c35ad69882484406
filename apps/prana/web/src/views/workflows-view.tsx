import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { ApiError, paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { EmptyState, ErrorState, Json, Loading, StatusBadge, TableScroll, Time } from '../components/common';
import { useProductField } from '../components/product-field';
import { SchemaForm, type JsonSchema } from '../components/schema-form';
import { FALLBACK_POLL_MS, LiveBadge, useLive } from '../live';
import { Link, useRouter } from '../router';
import type { WorkflowListResponse, WorkflowStatsBucket, WorkflowStatsResponse, WorkflowSummaryView } from '../types';
import { RunsList } from './runs-view';
import { seriesRows } from './workflow-stats';

const STATUS_COLORS: Record<string, string> = {
  completed: '#1a7f37',
  failed: '#cf222e',
  running: '#0969da',
  pending: '#8c6d1f',
  cancelled: '#57606a',
  timed_out: '#953800',
};
const STATUSES = Object.keys(STATUS_COLORS);

/** One finding of the executor's last load (`GET /workflows/findings`): a file of the workflows directory and where in it. */
interface Finding {
  file?: string;
  line?: number;
  severity?: string;
  level?: string;
  message?: string;
  code?: string;
}

function findingsOf(data: unknown): Finding[] {
  if (Array.isArray(data)) return data as Finding[];
  const o = (data ?? {}) as { findings?: unknown };
  return Array.isArray(o.findings) ? (o.findings as Finding[]) : [];
}

/**
 * The files of the workflows directory that are a workflow's: a finding names its file, not a workflow. They are the
 * files its versions were registered from, the files the last load kept serving it from (`kept`), and `<name>.yaml`
 * / `.yml`, the file its manifest must be in (a new version that was refused was never registered from anywhere).
 */
export function workflowFiles(workflow: WorkflowSummaryView, report: unknown): Set<string> {
  const files = new Set([`${workflow.name}.yaml`, `${workflow.name}.yml`]);
  for (const v of workflow.versions) if (v.file) files.add(v.file);
  const kept = (report as { kept?: unknown } | undefined)?.kept;
  if (Array.isArray(kept)) for (const k of kept as Array<{ file?: unknown; workflow?: unknown }>) if (k?.workflow === workflow.name && typeof k.file === 'string') files.add(k.file);
  return files;
}

const baseName = (file: string) => file.slice(file.lastIndexOf('/') + 1);

/** Every finding, or with `files` those of these files only (a workflow's page). */
export function FindingsList({ findings, files }: { findings: Finding[]; files?: ReadonlySet<string> }) {
  const shown = files ? findings.filter((f) => f.file !== undefined && (files.has(f.file) || files.has(baseName(f.file)))) : findings;
  if (shown.length === 0) return <EmptyState>No validation findings.</EmptyState>;
  return (
    <ul className="findings">
      {shown.map((f, i) => (
        <li key={i}>
          <StatusBadge status={f.severity ?? f.level ?? 'finding'} /> {f.file && <code>{f.file}{f.line ? `:${f.line}` : ''}</code>} {f.code && <span className="muted">{f.code}</span>} {f.message}
        </li>
      ))}
    </ul>
  );
}

export function WorkflowsView() {
  const { api } = useApp();
  // Live: a run of any workflow changing (live runs per version) or a definition enabled, disabled or registered
  // (`workflows` on the stream) reloads the list; it polls only while the stream is down.
  const live = useLive(['workflows'], { onWorkflows: () => list.reload(), onReconnect: () => list.reload() });
  const list = useLoad(() => api.get<WorkflowListResponse>(paths.workflows), 'workflows', live === 'down' ? FALLBACK_POLL_MS : undefined);
  const findings = useLoad(() => api.get<unknown>(paths.findings), 'findings');
  return (
    <>
      <h1>
        Workflows <LiveBadge state={live} />
      </h1>
      {list.error && <ErrorState error={list.error} what="workflows" />}
      {!list.data && !list.error && <Loading what="workflows" />}
      {list.data && list.data.workflows.length === 0 && <EmptyState>No workflow is registered. Put manifests in the workflows directory.</EmptyState>}
      {list.data && list.data.workflows.length > 0 && (
        <TableScroll label="Workflow definitions table">
          <table>
            <caption className="sr-only">Workflow definitions</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Enabled</th>
                <th scope="col">Default version</th>
                <th scope="col">Versions (live runs)</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody>
              {list.data.workflows.map((w) => (
                <tr key={w.name}>
                  <td>
                    <Link to={`/workflows/${encodeURIComponent(w.name)}`}>{w.name}</Link>
                  </td>
                  <td>{w.enabled ? <StatusBadge status="enabled" /> : <StatusBadge status="disabled" />}</td>
                  <td>{w.default_version ?? '—'}</td>
                  <td>
                    {w.versions.map((v) => (
                      <span key={v.version} className="version-chip">
                        {v.version} ({v.live_runs}){v.deprecated ? ' deprecated' : ''}
                        {v.retired ? ' retired' : ''}
                      </span>
                    ))}
                  </td>
                  <td>{w.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <section className="card" aria-labelledby="findings-h">
        <h2 id="findings-h">Validation findings</h2>
        {findings.error && <ErrorState error={findings.error} what="findings" />}
        {findings.data !== undefined && <FindingsList findings={findingsOf(findings.data)} />}
      </section>
    </>
  );
}

/**
 * The last 7 days of a workflow's runs per hour, or per day when they span more than two days: the executor
 * aggregates every run of the window in SQL (`GET /workflows/stats?window=7d&name=&bucket=`), however many there are.
 */
async function recentSeries(get: <T>(u: string) => Promise<T>, name: string): Promise<{ bucket: WorkflowStatsBucket; series: NonNullable<WorkflowStatsResponse['series']> }> {
  const hourly = await get<WorkflowStatsResponse>(paths.stats({ window: '7d', name, bucket: 'hour' }));
  const series = hourly.series ?? [];
  if (series.length === 0 || Date.now() - Date.parse(series[0].at) <= 2 * 86_400_000) return { bucket: 'hour', series };
  const daily = await get<WorkflowStatsResponse>(paths.stats({ window: '7d', name, bucket: 'day' }));
  return { bucket: 'day', series: daily.series ?? [] };
}

export function WorkflowCharts({ bucket, series }: { bucket: WorkflowStatsBucket; series: NonNullable<WorkflowStatsResponse['series']> }) {
  const data = seriesRows(series, bucket, STATUSES);
  if (data.length === 0) return <EmptyState>No runs in the last 7 days to chart.</EmptyState>;
  const width = Math.min(720, Math.max(320, (typeof window !== 'undefined' ? window.innerWidth : 720) - 64));
  return (
    <div className="charts">
      <figure>
        <figcaption>Runs by status per {bucket} (UTC)</figcaption>
        <BarChart width={width} height={220} data={data} accessibilityLayer>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="label" />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Legend />
          {STATUSES.map((s) => (
            <Bar key={s} dataKey={s} stackId="s" fill={STATUS_COLORS[s]} isAnimationActive={false} />
          ))}
        </BarChart>
      </figure>
      <figure>
        <figcaption>Duration p50 / p95 (ms)</figcaption>
        <LineChart width={width} height={220} data={data} accessibilityLayer>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="label" />
          <YAxis />
          <Tooltip />
          <Legend />
          <Line dataKey="p50_ms" name="p50" stroke="#0969da" isAnimationActive={false} connectNulls />
          <Line dataKey="p95_ms" name="p95" stroke="#cf222e" isAnimationActive={false} connectNulls />
        </LineChart>
      </figure>
      <table className="sr-only">
        <caption>Chart data</caption>
        <tbody>
          {data.map((d) => (
            <tr key={d.at}>
              <th scope="row">{d.at}</th>
              <td>{d.total} runs</td>
              <td>p50 {d.p50_ms ?? '—'} ms</td>
              <td>p95 {d.p95_ms ?? '—'} ms</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function StartWorkflow({ workflow }: { workflow: WorkflowSummaryView }) {
  const { api, session, can } = useApp();
  const { navigate } = useRouter();
  const startable = workflow.versions.filter((v) => v.present && !v.retired);
  const [version, setVersion] = useState(workflow.default_version ?? startable[0]?.version ?? '');
  const [userId, setUserId] = useState(session.user.username);
  const manifest = useLoad(() => (version ? api.get<{ inputs?: JsonSchema; manifest?: { inputs?: JsonSchema } }>(paths.workflowVersion(workflow.name, version)) : Promise.resolve(null)), `${workflow.name}@${version}`);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const product = useProductField('start-product');
  if (!can('start:runs')) return null;
  if (!workflow.enabled) return <p className="muted">This workflow is disabled: no new runs start.</p>;
  const schema: JsonSchema = manifest.data?.inputs ?? manifest.data?.manifest?.inputs ?? { type: 'object', properties: {} };
  const start = async (inputs: Record<string, unknown>) => {
    if (!product.check()) return;
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.post<{ run_id: string }>(paths.startRun(workflow.name), { inputs, user_id: userId, version, ...product.body });
      navigate(`/runs/${r.run_id}`);
    } catch (e) {
      setError(e as ApiError);
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="start-h">
      <h2 id="start-h">Start a run</h2>
      <div className="field-row">
        <label>
          Version
          <select value={version} onChange={(e) => setVersion(e.target.value)}>
            {startable.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version}
                {v.deprecated ? ' (deprecated)' : ''}
              </option>
            ))}
          </select>
        </label>
        <label>
          For user
          <input value={userId} onChange={(e) => setUserId(e.target.value)} required />
        </label>
      </div>
      {product.field}
      {manifest.error && <ErrorState error={manifest.error} what="the inputs schema" />}
      {manifest.data && <SchemaForm key={version} schema={schema} onSubmit={start} submitLabel="Start run" busy={busy} />}
      {error && <ErrorState error={error} what="the run" />}
    </section>
  );
}

export function WorkflowView({ name }: { name: string }) {
  const { api, can } = useApp();
  // Live: a change to this workflow's runs or definition (`workflows` on the stream) reloads it and its charts.
  const live = useLive(['workflows'], {
    onWorkflows: (names) => {
      if (!names.includes(name)) return;
      wf.reload();
      runs.reload();
    },
    onReconnect: () => {
      wf.reload();
      runs.reload();
    },
  });
  const pollMs = live === 'down' ? FALLBACK_POLL_MS : undefined;
  const wf = useLoad(() => api.get<WorkflowSummaryView>(paths.workflow(name)), name, pollMs);
  const runs = useLoad(() => recentSeries((u) => api.get(u), name), `series:${name}`, pollMs);
  const findings = useLoad(() => api.get<unknown>(paths.findings), 'findings');
  const [toggleError, setToggleError] = useState<ApiError>();
  if (wf.error && !wf.data) return <ErrorState error={wf.error} what={`workflow ${name}`} />;
  const w = wf.data;
  if (!w) return <Loading what="the workflow" />;
  const toggle = async () => {
    setToggleError(undefined);
    try {
      await api.post(paths.setEnabled(w.name, !w.enabled), { reason: `from PRANA` });
      wf.reload();
    } catch (e) {
      setToggleError(e as ApiError);
    }
  };
  return (
    <>
      <h1>
        Workflow {w.name} <LiveBadge state={live} />
      </h1>
      <p>{w.description}</p>
      <p>
        {w.enabled ? <StatusBadge status="enabled" /> : <StatusBadge status="disabled" />}{' '}
        {w.setting && (
          <span className="muted">
            set by {w.setting.updated_by} <Time iso={w.setting.updated_at} />
            {w.setting.reason ? ` — ${w.setting.reason}` : ''}
          </span>
        )}{' '}
        {can('admin:workflows') && (
          <button type="button" onClick={toggle}>
            {w.enabled ? 'Disable' : 'Enable'}
          </button>
        )}
      </p>
      {toggleError && <ErrorState error={toggleError} what="the change" />}
      <section className="card" aria-labelledby="versions-h">
        <h2 id="versions-h">Versions</h2>
        <TableScroll label="Versions table">
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Registered</th>
                <th scope="col">State</th>
                <th scope="col">Live runs</th>
              </tr>
            </thead>
            <tbody>
              {w.versions.map((v) => (
                <tr key={v.version}>
                  <td>
                    {v.version}
                    {v.version === w.default_version ? ' (default)' : ''}
                  </td>
                  <td>
                    <Time iso={v.registered_at} />
                  </td>
                  <td>{[v.present ? 'present' : 'absent', v.deprecated && 'deprecated', v.retired && 'retired'].filter(Boolean).join(', ')}</td>
                  <td>{v.live_runs}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      </section>
      <StartWorkflow workflow={w} />
      <section className="card" aria-labelledby="charts-h">
        <h2 id="charts-h">Last 7 days</h2>
        {runs.error && <ErrorState error={runs.error} what="run statistics for the charts" />}
        {runs.data ? <WorkflowCharts bucket={runs.data.bucket} series={runs.data.series} /> : !runs.error && <Loading what="charts" />}
      </section>
      <section className="card" aria-labelledby="wf-findings-h">
        <h2 id="wf-findings-h">Validation findings</h2>
        {findings.error && <ErrorState error={findings.error} what="findings" />}
        {findings.data !== undefined && <FindingsList findings={findingsOf(findings.data)} files={workflowFiles(w, findings.data)} />}
      </section>
      <RunsList workflow={w.name} />
      <details>
        <summary>Raw definition</summary>
        <Json value={w} label="workflow summary" />
      </details>
    </>
  );
}
