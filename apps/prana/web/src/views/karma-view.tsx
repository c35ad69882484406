import { useState, type FormEvent } from 'react';
import { CartesianGrid, Line, LineChart, Tooltip, XAxis, YAxis, Bar, BarChart } from 'recharts';
import { paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { EmptyState, ErrorState, Loading } from '../components/common';
import type { KarmaProfile } from '../types';

interface LedgerPoint {
  at: string;
  net_karma?: number;
  merit?: number;
  paap?: number;
  [k: string]: unknown;
}

function ledgerPoints(data: unknown): LedgerPoint[] {
  const arr = Array.isArray(data) ? data : ((data ?? {}) as { points?: unknown; entries?: unknown }).points ?? ((data ?? {}) as { entries?: unknown }).entries;
  return Array.isArray(arr) ? (arr as LedgerPoint[]) : [];
}

/** Q-values as a heat map: one cell per action, colour from the lowest (light) to the highest value (dark). */
export function QHeatMap({ values }: { values: Record<string, number> }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return <EmptyState>No Q-values yet for this role.</EmptyState>;
  const nums = entries.map(([, v]) => v);
  const min = Math.min(...nums);
  const max = Math.max(...nums);
  return (
    <table className="heatmap">
      <caption>Q-values of the current role by action</caption>
      <tbody>
        <tr>
          {entries.map(([action, v]) => {
            const t = max === min ? 0.5 : (v - min) / (max - min);
            // dark text on light cells, white on dark: contrast stays ≥ 4.5:1
            const style = { background: `hsl(212 80% ${92 - t * 62}%)`, color: t > 0.55 ? '#fff' : '#111' };
            return (
              <td key={action} style={style} title={`${action}: ${v}`}>
                <div className="heat-action">{action}</div>
                <div className="heat-value">{v.toFixed(3)}</div>
              </td>
            );
          })}
        </tr>
      </tbody>
    </table>
  );
}

export function KarmaView() {
  const { api, session } = useApp();
  const [userId, setUserId] = useState(session.user.username);
  const [draft, setDraft] = useState(userId);
  const profile = useLoad(() => api.get<KarmaProfile>(paths.karmaProfile(userId)), `p:${userId}`, 15_000);
  const ledger = useLoad(() => api.get<unknown>(paths.karmaLedger(userId)), `l:${userId}`, 30_000);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setUserId(draft.trim());
  };
  const p = profile.data;
  const points = ledgerPoints(ledger.data);
  const balances = p ? Object.entries(p.balances).map(([token, value]) => ({ token, value })) : [];
  return (
    <>
      <h1>Karma</h1>
      <form className="filters" onSubmit={submit} aria-label="Choose a user">
        <label>
          User
          <input value={draft} onChange={(e) => setDraft(e.target.value)} required />
        </label>
        <button type="submit">Show</button>
      </form>
      {profile.error && <ErrorState error={profile.error} what={`the karma of ${userId}`} />}
      {!p && !profile.error && <Loading what="the profile" />}
      {p && (
        <>
          <dl className="facts karma-facts">
            <dt>Merit</dt>
            <dd>{p.merit}</dd>
            <dt>Paap</dt>
            <dd>
              {p.paap_weighted} <span className="muted">{Object.entries(p.paap).map(([k, v]) => `${k}: ${v}`).join(', ')}</span>
            </dd>
            <dt>Net karma</dt>
            <dd>{p.net_karma}</dd>
            <dt>Role</dt>
            <dd>{p.role}</dd>
            <dt>Next role</dt>
            <dd>{p.predicted_next_role}</dd>
            {p.recommended_action && (
              <>
                <dt>Recommended</dt>
                <dd>{p.recommended_action}</dd>
              </>
            )}
          </dl>
          <section className="card" aria-labelledby="q-h">
            <h2 id="q-h">Q-values</h2>
            <div className="table-wrap">
              <QHeatMap values={p.q_values} />
            </div>
          </section>
        </>
      )}
      <section className="card" aria-labelledby="ledger-h">
        <h2 id="ledger-h">Ledger over time</h2>
        {points.length > 0 ? (
          <figure>
            <figcaption>Net karma over time</figcaption>
            <LineChart width={640} height={220} data={points} accessibilityLayer>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="at" tickFormatter={(v: string) => String(v).slice(5, 16)} />
              <YAxis />
              <Tooltip />
              <Line dataKey="net_karma" stroke="#0969da" isAnimationActive={false} />
            </LineChart>
          </figure>
        ) : balances.length > 0 ? (
          <figure>
            <figcaption>Token balances now{ledger.error ? ' (the ledger history is not available: ' + ledger.error.message + ')' : ''}</figcaption>
            <BarChart width={640} height={220} data={balances} accessibilityLayer>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="token" />
              <YAxis />
              <Tooltip />
              <Bar dataKey="value" fill="#0969da" isAnimationActive={false} />
            </BarChart>
          </figure>
        ) : (
          !profile.error && <EmptyState>No ledger entries for this user yet.</EmptyState>
        )}
      </section>
    </>
  );
}
