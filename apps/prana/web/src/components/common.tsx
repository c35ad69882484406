import { useState, type ReactNode } from 'react';
import type { ApiError } from '../api';
import { useApp } from '../app-context';
import { Link } from '../router';

const SERVICE_OF_PATH: Array<[RegExp, string]> = [
  [/^\/api\/core\//, 'core'],
  [/^\/api\/bucket\//, 'bucket'],
  [/^\/api\/karma\//, 'karma'],
];

export function serviceOf(url: string): string | null {
  return SERVICE_OF_PATH.find(([re]) => re.test(url))?.[1] ?? null;
}

/** An error in words, with what to do; never a blank page. */
export function ErrorState({ error, what }: { error: ApiError; what: string }) {
  let hint = '';
  if (error.status === 403) hint = error.code === 'karma_outside_products' ? 'Your access is limited to some products: you may read your own karma only.' : 'Your role does not allow this.';
  else if (error.status === 0) hint = 'Check your connection; PRANA will retry.';
  else if (error.status >= 500) hint = 'A service behind PRANA is not answering; see the service status above.';
  else if (error.status === 404) hint = 'It does not exist, or is not visible to you.';
  return (
    <div role="alert" className="error-state">
      <strong>Could not load {what}.</strong> {error.message} <span className="muted">({error.code}{error.status ? `, HTTP ${error.status}` : ''})</span>
      {hint && <div>{hint}</div>}
    </div>
  );
}

export function EmptyState({ children }: { children: ReactNode }) {
  return <p className="empty-state">{children}</p>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status.replace(/[^a-z_]/gi, '')}`}>{status}</span>;
}

/** A trace id: PRANA's own timeline of it, and Jaeger. */
export function TraceLink({ traceId }: { traceId: string | null | undefined }) {
  const { jaegerUrl } = useApp();
  if (!traceId) return <span className="muted">no trace</span>;
  return (
    <span className="trace-link">
      <Link to={`/traces/${encodeURIComponent(traceId)}`} title="Timeline of this trace (audit entries, runs and steps)">
        <code>{traceId.slice(0, 12)}…</code>
      </Link>{' '}
      <a href={`${jaegerUrl.replace(/\/$/, '')}/trace/${encodeURIComponent(traceId)}`} target="_blank" rel="noopener noreferrer" aria-label={`Trace ${traceId} in Jaeger (opens a new tab)`}>
        Jaeger ↗
      </a>
    </span>
  );
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">—</span>;
  const d = new Date(iso);
  return <time dateTime={iso} title={iso}>{Number.isNaN(d.getTime()) ? iso : d.toLocaleString()}</time>;
}

export function Duration({ ms }: { ms: number | null | undefined }) {
  if (ms === null || ms === undefined) return <span className="muted">—</span>;
  return <span>{ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`}</span>;
}

/**
 * A table that may be wider than the screen scrolls sideways in this box, which is focusable and named so that a
 * keyboard user can reach and scroll it (axe scrollable-region-focusable).
 */
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

/** JSON as text (React escapes it), folded when long. */
export function Json({ value, label }: { value: unknown; label?: string }) {
  const text = value === undefined ? 'undefined' : JSON.stringify(value, null, 2);
  const [open, setOpen] = useState(text.length < 400);
  return (
    <div className="json">
      {text.length >= 400 && (
        <button type="button" className="link-button" onClick={() => setOpen(!open)} aria-expanded={open}>
          {open ? 'Hide' : 'Show'} {label ?? 'JSON'} ({text.length} chars)
        </button>
      )}
      {/* Focusable: a keyboard user can scroll it when it overflows (axe scrollable-region-focusable). */}
      {open && (
        <pre aria-label={label} tabIndex={0}>
          {text}
        </pre>
      )}
    </div>
  );
}

/** Cursor paging: keeps the cursors of the pages before so Previous works. */
export function useCursorPager() {
  const [stack, setStack] = useState<string[]>([]);
  const cursor = stack.length ? stack[stack.length - 1] : undefined;
  return {
    cursor,
    page: stack.length + 1,
    next: (c: string) => setStack((s) => [...s, c]),
    prev: () => setStack((s) => s.slice(0, -1)),
    reset: () => setStack([]),
  };
}

export function Pager({ page, hasNext, onNext, onPrev }: { page: number; hasNext: boolean; onNext: () => void; onPrev: () => void }) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={onPrev} disabled={page <= 1}>
        ← Previous
      </button>
      <span aria-live="polite">Page {page}</span>
      <button type="button" onClick={onNext} disabled={!hasNext}>
        Next →
      </button>
    </nav>
  );
}
