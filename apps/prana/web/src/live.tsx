import type { BucketEntry, RunSummaryView } from '@pancha/contracts';
import { useEffect, useRef, useState } from 'react';
import { paths } from './api';
import { useApp } from './app-context';

/** connecting: the stream is opening; live: pushes arrive; down: no stream (or Core's feed lost), views poll slowly. */
export type LiveState = 'connecting' | 'live' | 'down';

/** How often a view reloads while the live stream is down. */
export const FALLBACK_POLL_MS = 15_000;
/** A stream the BFF refused (closed, not retried by the browser) is opened again after this long. */
const REOPEN_MS = 15_000;

export interface LiveHandlers {
  /** Runs that changed, for one of the `runs` / `run:<id>` topics. */
  onRuns?: (runs: RunSummaryView[], topic: string) => void;
  /** New Bucket entries, for one of the `audit…` topics. */
  onAudit?: (entries: BucketEntry[], topic: string) => void;
  /** Workflows whose runs or definition state changed (`workflows` topic). */
  onWorkflows?: (names: string[]) => void;
  /** Karma recorded something for this user (`karma:<user>` topic). */
  onKarma?: (userId: string) => void;
  /** The stream is ready (first open, or back after a drop): reload the view once (changes before it were not pushed). */
  onReconnect: () => void;
}

/**
 * Subscribes to the BFF's live stream (GET /api/stream) for `topics` with EventSource, which reconnects by itself
 * after a drop; on reconnect the view reloads once. Returns the state to show and to choose the fallback poll by:
 * `down` while the stream is closed or any service behind the topics has lost its feed.
 */
export function useLive(topics: string[], handlers: LiveHandlers): LiveState {
  const { api } = useApp();
  const [state, setState] = useState<LiveState>(api.openStream ? 'connecting' : 'down');
  const [attempt, setAttempt] = useState(0);
  const ref = useRef(handlers);
  ref.current = handlers;
  const key = topics.join(',');
  useEffect(() => {
    if (!api.openStream || !key) {
      setState('down');
      return;
    }
    const es = api.openStream(paths.stream(key.split(',')));
    const down = new Set<string>();
    let reopen: ReturnType<typeof setTimeout> | undefined;
    const parse = (e: Event): Record<string, unknown> => {
      try {
        return JSON.parse(String((e as MessageEvent).data)) as Record<string, unknown>;
      } catch {
        return {};
      }
    };
    es.addEventListener('ready', (e) => {
      const d = parse(e);
      down.clear();
      if (Array.isArray(d.down)) for (const s of d.down) down.add(String(s));
      else if (d.upstream === 'down') down.add('core');
      setState(down.size ? 'down' : 'live');
      // Every `ready`, the first included: the BFF says it once its watches have their position, so reloading now
      // catches whatever changed between the view's first load and the first push (and during a drop).
      ref.current.onReconnect();
    });
    es.addEventListener('runs', (e) => {
      const d = parse(e) as { topic?: string; runs?: RunSummaryView[] };
      if (Array.isArray(d.runs)) ref.current.onRuns?.(d.runs, String(d.topic ?? ''));
    });
    es.addEventListener('audit', (e) => {
      const d = parse(e) as { topic?: string; entries?: BucketEntry[] };
      if (Array.isArray(d.entries)) ref.current.onAudit?.(d.entries, String(d.topic ?? ''));
    });
    es.addEventListener('workflows', (e) => {
      const d = parse(e) as { workflows?: string[] };
      if (Array.isArray(d.workflows)) ref.current.onWorkflows?.(d.workflows);
    });
    es.addEventListener('karma', (e) => {
      const d = parse(e) as { user_id?: string };
      if (typeof d.user_id === 'string') ref.current.onKarma?.(d.user_id);
    });
    es.addEventListener('upstream', (e) => {
      const d = parse(e);
      const service = String(d.service ?? 'core');
      if (d.up === true) down.delete(service);
      else down.add(service);
      setState(down.size ? 'down' : 'live');
      if (d.up === true) ref.current.onReconnect();
    });
    es.onerror = () => {
      setState('down');
      // CLOSED: the BFF refused the stream (signed out, too many tabs); the browser will not retry by itself.
      if (es.readyState === 2) reopen = setTimeout(() => setAttempt((n) => n + 1), REOPEN_MS);
    };
    return () => {
      if (reopen) clearTimeout(reopen);
      es.close();
    };
  }, [api, key, attempt]);
  return state;
}

/** The live state in words (a polite status region, so screen readers hear when updates pause). */
export function LiveBadge({ state }: { state: LiveState }) {
  const text =
    state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting live updates…' : `Live updates paused; refreshing every ${FALLBACK_POLL_MS / 1000} s`;
  return (
    <span aria-live="polite" className={`live-badge live-${state}`} data-testid="live-state" data-state={state}>
      {text}
    </span>
  );
}
