/// <reference lib="dom" />
/**
 * The PRANA focus-telemetry client: signals → a state every second → a packet every 5 s → the offline queue →
 * batches to the BFF. Usable on its own (any page with a user id and a place to POST), and observable: the
 * console subscribes to show the user every packet and lets them pause it.
 */
import { Delivery, fetchSender, type SendResult, type Sender } from './delivery';
import { DEFAULT_THRESHOLDS, FocusStateMachine, type FocusState, type FocusThresholds, type FocusTransition } from './focus-state';
import { OfflineQueue, type DropReport } from './offline-queue';
import { buildPacket, classifySecond, PACKET_SECONDS, type PacketContext, type SecondKind, type TelemetryPacket } from './packet';
import { SignalTracker } from './signals';

export type TelemetryStatus = 'running' | 'paused' | 'disabled' | 'stopped';

export type TelemetryEvent =
  | { type: 'status'; status: TelemetryStatus }
  | { type: 'state'; state: FocusState; transition?: FocusTransition }
  | { type: 'packet'; packet: TelemetryPacket; queued: number }
  | { type: 'sent'; packets: TelemetryPacket[]; result: SendResult }
  | { type: 'drop'; report: DropReport }
  | { type: 'error'; result: SendResult; attempt: number };

export interface TelemetryOptions {
  context: PacketContext;
  window?: Window;
  /** The work area (see SignalTracker); default the whole document. */
  panel?: () => Element | null;
  /** Where packets go (default POST /api/telemetry with `headers`). */
  sender?: Sender;
  url?: string;
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  storage?: Storage | null;
  queueCapacity?: number;
  batchSize?: number;
  maxRetries?: number;
  backoffMs?: number;
  thresholds?: Partial<FocusThresholds>;
  /** Kill switch from the page's config; `window.PRANA_DISABLED` or localStorage `PRANA_DISABLED` do the same. */
  disabled?: boolean;
  now?: () => number;
}

const PAUSED_KEY = 'prana.telemetry.paused';

/** The kill switch: set by the operator of the page (config or global) or in localStorage, it turns everything off. */
export function isKillSwitchOn(win: Window | undefined, storage: Storage | null, disabled?: boolean): boolean {
  if (disabled) return true;
  const flag = (win as unknown as { PRANA_DISABLED?: unknown } | undefined)?.PRANA_DISABLED;
  if (flag === true || flag === 'true' || flag === '1') return true;
  try {
    const v = storage?.getItem('PRANA_DISABLED');
    return v === 'true' || v === '1';
  } catch {
    return false;
  }
}

export class PranaTelemetry {
  readonly queue: OfflineQueue;
  private readonly win: Window;
  private readonly storage: Storage | null;
  private readonly tracker: SignalTracker;
  private readonly machine: FocusStateMachine;
  private readonly delivery: Delivery;
  private readonly now: () => number;
  private readonly batchSize: number;
  private readonly listeners = new Set<(e: TelemetryEvent) => void>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private kinds: SecondKind[] = [];
  private currentStatus: TelemetryStatus = 'stopped';
  private readonly onOnline = () => void this.flush();

  constructor(private readonly options: TelemetryOptions) {
    this.win = options.window ?? window;
    this.storage = options.storage === undefined ? safeLocalStorage(this.win) : options.storage;
    this.now = options.now ?? (() => Date.now());
    this.batchSize = options.batchSize ?? 5;
    this.queue = new OfflineQueue(this.storage, `prana.telemetry.queue:${options.context.user_id}`, options.queueCapacity ?? 100);
    this.tracker = new SignalTracker(this.win, { panel: options.panel, now: this.now });
    this.machine = new FocusStateMachine({ ...DEFAULT_THRESHOLDS, ...options.thresholds });
    const sender = options.sender ?? fetchSender({ url: options.url, headers: options.headers });
    this.delivery = new Delivery(this.queue, sender, {
      batchSize: this.batchSize,
      maxRetries: options.maxRetries,
      backoffMs: options.backoffMs,
      onSent: (packets, result) => this.emit({ type: 'sent', packets, result }),
      onDrop: (report) => this.emit({ type: 'drop', report }),
      onError: (result, attempt) => this.emit({ type: 'error', result, attempt }),
    });
  }

  get status(): TelemetryStatus {
    return this.currentStatus;
  }

  get state(): FocusState | null {
    return this.machine.state;
  }

  subscribe(listener: (e: TelemetryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: TelemetryEvent): void {
    for (const l of this.listeners) l(e);
  }

  private setStatus(status: TelemetryStatus): void {
    this.currentStatus = status;
    this.emit({ type: 'status', status });
  }

  /** Starts collecting unless the kill switch is on or the user paused it (the pause survives a reload). */
  start(): TelemetryStatus {
    if (isKillSwitchOn(this.win, this.storage, this.options.disabled)) {
      this.stopCollecting();
      this.setStatus('disabled');
      return this.currentStatus;
    }
    if (this.readPaused()) {
      this.setStatus('paused');
      return this.currentStatus;
    }
    if (this.timer === null) {
      this.tracker.attach();
      this.win.addEventListener('online', this.onOnline);
      this.timer = setInterval(() => this.tick(), 1_000);
    }
    this.setStatus('running');
    // A queue left by an earlier page (a reload while offline) goes out as soon as we run again.
    if (this.queue.size > 0) void this.flush();
    return this.currentStatus;
  }

  /** Stops collection and sending until resume(); remembered across reloads. Nothing is collected while paused. */
  pause(): void {
    this.writePaused(true);
    this.stopCollecting();
    if (this.currentStatus !== 'disabled') this.setStatus('paused');
  }

  resume(): TelemetryStatus {
    this.writePaused(false);
    return this.start();
  }

  stop(): void {
    this.stopCollecting();
    this.setStatus('stopped');
  }

  /** Drops what is queued (the user chose not to send it). */
  discardQueue(): void {
    this.queue.clear();
  }

  private stopCollecting(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.tracker.detach();
    this.win.removeEventListener('online', this.onOnline);
    this.kinds = [];
    this.machine.reset();
  }

  /** One evaluation (normally every second, from the interval). */
  tick(): void {
    const snapshot = this.tracker.snapshot();
    const { state, transition } = this.machine.evaluate(this.now(), snapshot);
    this.emit({ type: 'state', state, transition });
    this.kinds.push(classifySecond(state, snapshot.msSinceInput));
    if (this.kinds.length >= PACKET_SECONDS) this.emitPacket(state);
  }

  private emitPacket(state: FocusState): void {
    const packet = buildPacket(this.options.context, state, this.kinds, this.tracker.takeWindow(), this.now());
    this.kinds = [];
    const dropped = this.queue.push(packet);
    this.emit({ type: 'packet', packet, queued: this.queue.size });
    if (dropped) this.emit({ type: 'drop', report: dropped });
    if (this.queue.size >= this.batchSize) void this.flush();
  }

  /** Sends what is queued now (skipped while the browser says it is offline: the `online` event flushes). */
  flush(): Promise<void> {
    if (this.currentStatus !== 'running') return Promise.resolve();
    if (this.win.navigator && this.win.navigator.onLine === false) return Promise.resolve();
    return this.delivery.flush();
  }

  private readPaused(): boolean {
    try {
      return this.storage?.getItem(PAUSED_KEY) === '1';
    } catch {
      return false;
    }
  }

  private writePaused(paused: boolean): void {
    try {
      if (paused) this.storage?.setItem(PAUSED_KEY, '1');
      else this.storage?.removeItem(PAUSED_KEY);
    } catch {
      // Without storage the pause lasts for this page only.
    }
  }
}

function safeLocalStorage(win: Window): Storage | null {
  try {
    return win.localStorage;
  } catch {
    return null;
  }
}
