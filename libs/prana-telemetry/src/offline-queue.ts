/// <reference lib="dom" />
/**
 * The packets not yet delivered, mirrored to localStorage on every change so a reload (or a crash of the tab)
 * keeps them. Bounded: when full the oldest packet goes, and the drop is counted and reported, never silent.
 */
import type { TelemetryPacket } from './packet';

export interface DropReport {
  reason: 'queue_full' | 'rejected';
  count: number;
  /** event_ids of the dropped packets. */
  event_ids: string[];
  /** HTTP status for `rejected`. */
  status?: number;
}

export interface QueueState {
  packets: TelemetryPacket[];
  /** Packets dropped since the counter was created (kept across reloads). */
  dropped: { queue_full: number; rejected: number };
}

export class OfflineQueue {
  private state: QueueState;

  constructor(
    private readonly storage: Storage | null,
    private readonly key = 'prana.telemetry.queue',
    readonly capacity = 100,
  ) {
    this.state = this.load();
  }

  private load(): QueueState {
    const empty: QueueState = { packets: [], dropped: { queue_full: 0, rejected: 0 } };
    try {
      const raw = this.storage?.getItem(this.key);
      if (!raw) return empty;
      const parsed = JSON.parse(raw) as Partial<QueueState>;
      const packets = Array.isArray(parsed.packets) ? parsed.packets.filter((p) => p && typeof p.event_id === 'string') : [];
      return {
        packets: packets.slice(-this.capacity),
        dropped: { queue_full: Number(parsed.dropped?.queue_full) || 0, rejected: Number(parsed.dropped?.rejected) || 0 },
      };
    } catch {
      // A corrupt entry (another app, a manual edit) must not stop telemetry: start empty.
      return empty;
    }
  }

  private save(): void {
    try {
      this.storage?.setItem(this.key, JSON.stringify(this.state));
    } catch {
      // Storage full or forbidden (private mode): the queue still works in memory for this page.
    }
  }

  get size(): number {
    return this.state.packets.length;
  }

  get dropped(): Readonly<QueueState['dropped']> {
    return this.state.dropped;
  }

  peek(n: number): TelemetryPacket[] {
    return this.state.packets.slice(0, n);
  }

  all(): readonly TelemetryPacket[] {
    return this.state.packets;
  }

  /** Appends; returns what had to be dropped to stay within capacity (oldest first), if anything. */
  push(packet: TelemetryPacket): DropReport | null {
    this.state.packets.push(packet);
    let report: DropReport | null = null;
    const over = this.state.packets.length - this.capacity;
    if (over > 0) {
      const gone = this.state.packets.splice(0, over);
      this.state.dropped.queue_full += gone.length;
      report = { reason: 'queue_full', count: gone.length, event_ids: gone.map((p) => p.event_id) };
    }
    this.save();
    return report;
  }

  /** Removes delivered (or rejected) packets by event_id. */
  remove(eventIds: readonly string[]): void {
    const ids = new Set(eventIds);
    this.state.packets = this.state.packets.filter((p) => !ids.has(p.event_id));
    this.save();
  }

  countRejected(n: number): void {
    this.state.dropped.rejected += n;
    this.save();
  }

  clear(): void {
    this.state.packets = [];
    this.save();
  }
}
