import { useState, type FormEvent } from 'react';
import { ApiError, paths } from '../api';
import { useApp, useLoad } from '../app-context';
import { EmptyState, ErrorState, Json, Loading, Time, TraceLink } from '../components/common';
import { FALLBACK_POLL_MS, LiveBadge, useLive } from '../live';
import { Link, useRouter } from '../router';
import type { AuditVerifyResult, BucketEntry, EventsPage, WitnessedVerifyResult } from '../types';

const PAGE = 50;
const FILTERS = ['trace_id', 'user_id', 'product'] as const;

/** Bucket's verification; Core's answer also names the checkpoint it witnessed. */
type VerifyResult = AuditVerifyResult & Partial<Pick<WitnessedVerifyResult, 'witnessed'>>;

export function VerifyPanel() {
  const { api } = useApp();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ verify: VerifyResult; checkpoint: unknown }>();
  const [error, setError] = useState<ApiError>();
  const verify = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const [verifyResult, checkpoint] = await Promise.all([api.get<VerifyResult>(paths.auditVerify(true)), api.get<unknown>(paths.auditCheckpoint)]);
      setResult({ verify: verifyResult, checkpoint });
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="verify-h">
      <h2 id="verify-h">Verify the chain</h2>
      <button type="button" onClick={verify} disabled={busy}>
        {busy ? 'Verifying…' : 'Verify'}
      </button>
      {error && <ErrorState error={error} what="the verification" />}
      {result && (
        <div role="status" aria-live="polite">
          <p className={result.verify.ok ? 'ok' : 'error-state'}>
            {result.verify.ok ? '✔ Chain intact' : `✘ Chain broken at seq ${result.verify.first_bad_seq} (${result.verify.reason})`}: {result.verify.size} entries, head{' '}
            <code className="hash">{result.verify.head_hash}</code>
          </p>
          <h3>Signed checkpoint</h3>
          <Json value={result.checkpoint} label="signed checkpoint" />
          {result.verify.witnessed !== undefined && (
            <>
              <h3>Witnessed</h3>
              <Json value={result.verify.witnessed} label="witnessed checkpoint" />
            </>
          )}
        </div>
      )}
    </section>
  );
}

export function AuditView() {
  const { api } = useApp();
  const { location, navigate } = useRouter();
  const q = location.search;
  const filter = Object.fromEntries(FILTERS.map((f) => [f, q.get(f) ?? ''])) as Record<(typeof FILTERS)[number], string>;
  const afterSeq = q.get('after_seq') ?? '';
  const [draft, setDraft] = useState(filter);
  const query = { ...filter, after_seq: afterSeq || undefined, limit: q.get('limit') ?? PAGE };
  const key = JSON.stringify(query);
  // Live: the stream's audit topic for the narrowest filter; an entry that matches every filter reloads the page
  // when it is the last one (where a new entry appears). It polls only while the stream is down.
  const topic = filter.trace_id ? `audit:trace:${filter.trace_id}` : filter.user_id ? `audit:user:${filter.user_id}` : filter.product ? `audit:product:${filter.product}` : 'audit';
  const matches = (e: BucketEntry) =>
    (!filter.trace_id || e.trace_id === filter.trace_id) && (!filter.user_id || e.user_id === filter.user_id) && (!filter.product || e.product === filter.product);
  const live = useLive([topic], {
    onAudit: (entries) => {
      if (page.data && page.data.next_after_seq === null && entries.some(matches)) page.reload();
    },
    onReconnect: () => page.reload(),
  });
  const page = useLoad(() => api.get<EventsPage>(paths.auditEvents(query)), key, live === 'down' ? FALLBACK_POLL_MS : undefined);
  const go = (params: Record<string, string | undefined>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) p.set(k, v);
    navigate(`/audit${p.toString() ? `?${p}` : ''}`);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    go(draft);
  };
  return (
    <>
      <h1>Audit</h1>
      <form className="filters" onSubmit={submit} aria-label="Filter the audit chain">
        {FILTERS.map((f) => (
          <label key={f}>
            {f === 'trace_id' ? 'Trace id' : f === 'user_id' ? 'User' : 'Product'}
            <input value={draft[f]} onChange={(e) => setDraft({ ...draft, [f]: e.target.value.trim() })} />
          </label>
        ))}
        <button type="submit">Show</button>
      </form>
      <VerifyPanel />
      <section className="card" aria-labelledby="chain-h">
        <h2 id="chain-h">
          Entries <LiveBadge state={live} />
        </h2>
        {page.error && <ErrorState error={page.error} what="audit entries" />}
        {!page.data && !page.error && <Loading what="audit entries" />}
        {page.data && page.data.events.length === 0 && <EmptyState>No audit entries match.</EmptyState>}
        {page.data && page.data.events.length > 0 && (
          <ol className="chain">
            {page.data.events.map((e) => (
              <li key={e.seq} id={`seq-${e.seq}`} className="entry">
                <div>
                  <strong>#{e.seq}</strong> <code>{e.event_type}</code> by {e.requester_id} on {e.channel} · <Time iso={e.created_at} />
                </div>
                <div className="muted">
                  user {e.user_id ?? '—'} · product {e.product ?? '—'} · <TraceLink traceId={e.trace_id} />
                </div>
                <div>
                  hash <code className="hash">{e.hash}</code>
                </div>
                <div>
                  previous{' '}
                  {e.seq > 1 ? (
                    <Link to={`/audit?after_seq=${e.seq - 2}&limit=1`} aria-label={`Entry ${e.seq - 1}, the predecessor`}>
                      #{e.seq - 1}
                    </Link>
                  ) : (
                    'genesis'
                  )}{' '}
                  <code className="hash">{e.prev_hash}</code>
                </div>
                <Json value={e.event_data} label={`event ${e.seq} data`} />
              </li>
            ))}
          </ol>
        )}
        {page.data?.next_after_seq !== null && page.data?.next_after_seq !== undefined && (
          <button type="button" onClick={() => go({ ...filter, after_seq: String(page.data?.next_after_seq) })}>
            Next entries →
          </button>
        )}
      </section>
    </>
  );
}
