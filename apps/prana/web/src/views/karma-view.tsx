import { useState, type FormEvent } from 'react';
import type { KarmaHistory, KarmaHistoryBucket } from '@pancha/contracts';
import { Bar, CartesianGrid, ComposedChart, Legend, Line, Tooltip, XAxis, YAxis } from 'recharts';
import { paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { EmptyState, ErrorState, Loading, TableScroll } from '../components/common';
import { FALLBACK_POLL_MS, LiveBadge, useLive } from '../live';
import type { KarmaProfile } from '../types';

/**
 * A profile as the BFF passes it on: without `q_values` (the Q-table's row for the role) for people restricted to
 * some products, whom the Q-table, learnt from everyone, is not shown (docs/prana.md).
 */
type ProfileSeen = Omit<KarmaProfile, 'q_values'> & Partial<Pick<KarmaProfile, 'q_values'>>;

/** sRGB relative luminance (WCAG 2.x) of an `hsl(h s% l%)` colour. */
function luminanceOfHsl(h: number, s: number, l: number): number {
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(8) + 0.0722 * channel(4);
}

export function contrastRatio(l1: number, l2: number): number {
  return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
}

/**
 * A heat map cell's colours for t in [0, 1] (lowest value light, highest dark) and the text colour that contrasts
 * more with it, black or white: the better of the two is always ≥ 4.5:1 (WCAG AA), checked in the tests for every t.
 */
export function heatColors(t: number): { background: string; color: string; ratio: number } {
  const lightness = 0.92 - t * 0.62;
  const bg = luminanceOfHsl(212, 0.8, lightness);
  const onWhite = contrastRatio(1, bg);
  const onBlack = contrastRatio(0, bg);
  return {
    background: `hsl(212 80% ${(lightness * 100).toFixed(1)}%)`,
    color: onWhite >= onBlack ? '#fff' : '#000',
    ratio: Math.max(onWhite, onBlack),
  };
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
            // black text on light cells, white on dark, whichever contrasts more: ≥ 4.5:1 (heatColors)
            const { background, color } = heatColors(t);
            const style = { background, color };
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
  // Live: Karma recording something for this user (`karma:<user>` on the stream) reloads the profile and the
  // ledger; they poll only while the stream is down.
  const live = useLive(userId ? [`karma:${userId}`] : [], {
    onKarma: () => {
      profile.reload();
      history.reload();
    },
    onReconnect: () => {
      profile.reload();
      history.reload();
    },
  });
  const pollMs = live === 'down' ? FALLBACK_POLL_MS : undefined;
  const profile = useLoad(() => api.get<ProfileSeen>(paths.karmaProfile(userId)), `p:${userId}`, pollMs);
  const [bucket, setBucket] = useState<KarmaHistoryBucket>('day');
  const history = useLoad(() => api.get<KarmaHistory>(paths.karmaHistory(userId, bucket)), `h:${userId}:${bucket}`, pollMs);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setUserId(draft.trim());
  };
  const p = profile.data;
  const h = history.data;
  return (
    <>
      <h1>
        Karma <LiveBadge state={live} />
      </h1>
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
            {p.q_values ? (
              <TableScroll label="Q-values heat map">
                <QHeatMap values={p.q_values} />
              </TableScroll>
            ) : (
              <p className="muted">Not shown: the Q-table learns from everyone, and your access is limited to some products.</p>
            )}
          </section>
        </>
      )}
      <section className="card" aria-labelledby="ledger-h">
        <h2 id="ledger-h">Ledger over time</h2>
        <label>
          Bucket{' '}
          <select value={bucket} onChange={(e) => setBucket(e.target.value as KarmaHistoryBucket)}>
            <option value="day">day (last 30 days)</option>
            <option value="hour">hour (last 48 hours)</option>
          </select>
        </label>
        {history.error && <ErrorState error={history.error} what={`the karma ledger of ${userId} (Karma)`} />}
        {!h && !history.error && <Loading what="the ledger history" />}
        {h && h.entries === 0 && <EmptyState>No ledger entries for {userId} in this range.</EmptyState>}
        {h && h.entries > 0 && (
          <figure>
            <figcaption>
              Merit and paap recorded per {h.bucket}, and net karma accumulated since <time dateTime={h.since}>{h.since.slice(0, 10)}</time>
            </figcaption>
            <ComposedChart width={640} height={240} data={h.points} accessibilityLayer>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="at" tickFormatter={(v: string) => (h.bucket === 'hour' ? String(v).slice(5, 13).replace('T', ' ') + 'h' : String(v).slice(5, 10))} />
              <YAxis />
              <Tooltip />
              <Legend />
              <Bar dataKey="merit" name="merit" fill="#1a7f37" isAnimationActive={false} />
              <Bar dataKey="paap" name="paap" fill="#cf222e" isAnimationActive={false} />
              <Line dataKey="net_cumulative" name="net karma (cumulative)" stroke="#0969da" dot={false} isAnimationActive={false} />
            </ComposedChart>
          </figure>
        )}
      </section>
    </>
  );
}
