import type { PranaTelemetry, TelemetryEvent, TelemetryPacket, TelemetryStatus } from '@pancha/prana-telemetry';
import { useEffect, useState } from 'react';
import { EmptyState, Json } from '../components/common';

/** What the console's telemetry client sends about the user, and the switch to pause it. */
export function TelemetryView({ telemetry }: { telemetry: PranaTelemetry | null }) {
  const [status, setStatus] = useState<TelemetryStatus>(telemetry?.status ?? 'stopped');
  const [state, setState] = useState(telemetry?.state ?? null);
  const [packets, setPackets] = useState<TelemetryPacket[]>([]);
  const [queued, setQueued] = useState(telemetry?.queue.size ?? 0);
  const [sent, setSent] = useState(0);
  const [lastError, setLastError] = useState('');
  const [dropped, setDropped] = useState(telemetry?.queue.dropped ?? { queue_full: 0, rejected: 0 });
  useEffect(() => {
    if (!telemetry) return;
    // The client may have started before this view mounted: take its current state first.
    setStatus(telemetry.status);
    setState(telemetry.state);
    setQueued(telemetry.queue.size);
    setDropped({ ...telemetry.queue.dropped });
    return telemetry.subscribe((e: TelemetryEvent) => {
      if (e.type === 'status') setStatus(e.status);
      if (e.type === 'state') setState(e.state);
      if (e.type === 'packet') setPackets((p) => [e.packet, ...p].slice(0, 20));
      if (e.type === 'sent') {
        setSent((n) => n + e.packets.length);
        setLastError('');
      }
      if (e.type === 'error') setLastError(e.result.status === 0 ? 'offline or unreachable' : `HTTP ${e.result.status}`);
      if (e.type === 'drop') setDropped({ ...telemetry.queue.dropped });
      setQueued(telemetry.queue.size);
    });
  }, [telemetry]);
  if (!telemetry) return <EmptyState>Telemetry is not available in this session.</EmptyState>;
  return (
    <>
      <h1>Your focus telemetry</h1>
      <p>
        While you use PRANA, this browser records how you work — counts of keystrokes, clicks, scrolls, mouse speed, and whether this tab has focus;
        never what you type or where you click — and sends a summary every 5 seconds. You can pause it at any time; the pause is remembered.
      </p>
      <dl className="facts">
        <dt>Status</dt>
        <dd data-testid="telemetry-status">{status}</dd>
        <dt>Current state</dt>
        <dd data-testid="telemetry-state">{state ?? '—'}</dd>
        <dt>Waiting to send</dt>
        <dd data-testid="telemetry-queued">{queued}</dd>
        <dt>Sent this page</dt>
        <dd data-testid="telemetry-sent">{sent}</dd>
        <dt>Dropped</dt>
        <dd data-testid="telemetry-dropped">
          {dropped.queue_full} (queue full), {dropped.rejected} (rejected by the server)
        </dd>
        {lastError && (
          <>
            <dt>Last delivery problem</dt>
            <dd>{lastError} — packets stay queued and are retried</dd>
          </>
        )}
      </dl>
      {status === 'disabled' ? (
        <p>Telemetry is switched off for this deployment (kill switch).</p>
      ) : status === 'paused' ? (
        <button type="button" onClick={() => telemetry.resume()}>
          Resume telemetry
        </button>
      ) : (
        <button type="button" onClick={() => telemetry.pause()}>
          Pause telemetry
        </button>
      )}{' '}
      <button type="button" onClick={() => (telemetry.discardQueue(), setQueued(0))} disabled={queued === 0}>
        Discard unsent packets
      </button>
      <section className="card" aria-labelledby="packets-h">
        <h2 id="packets-h">Latest packets</h2>
        {packets.length === 0 ? <EmptyState>No packet yet (one every 5 seconds while running).</EmptyState> : packets.map((p) => <Json key={p.event_id} value={p} label={`packet ${p.timestamp}`} />)}
      </section>
    </>
  );
}
