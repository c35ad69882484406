import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { RunListResponse, RunSummaryView } from '@pancha/contracts';
import { PranaConfig } from '../config/env.validation';
import { UpstreamService } from './upstream.service';

/** What a subscriber hears: runs that changed, or that the watch lost (or regained) Core. */
export type RunWatchEvent = { type: 'runs'; runs: RunSummaryView[] } | { type: 'upstream'; up: boolean; message?: string };
export type RunWatchListener = (event: RunWatchEvent) => void;

/** A transaction that commits late can carry an earlier updated_at: each pass reaches back this far and de-duplicates. */
export const WATCH_OVERLAP_MS = 3_000;
const PAGE = 500;
const MAX_BACKOFF_MS = 10_000;

/** One read of the change feed from `since` to its end, a page at a time. */
interface Pass {
  since: string;
  /** Core's next_cursor after the last page read: the next page starts right after that run. */
  cursor: string | undefined;
  /** The pass that sets the position: what it reads is in the view listeners load, so it is not pushed. */
  first: boolean;
}

/**
 * The one upstream watch of PRANA's live stream: however many browser tabs listen, a single loop asks Core's
 * change feed (`GET /runs?updated_since=`, with PRANA's service identity) for runs changed since its position
 * and hands each change to every listener; it starts with the first listener and stops with the last. Each
 * listener (a stream) decides what its person may see (stream.controller.ts).
 */
@Injectable()
export class RunWatch implements OnModuleDestroy {
  private readonly logger = new Logger(RunWatch.name);
  private readonly listeners = new Set<RunWatchListener>();
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private position: string | undefined;
  /** The pass under way, when its last page was full. */
  private pass: Pass | undefined;
  /** run_id → updated_at already announced, for the overlap window. */
  private readonly seen = new Map<string, string>();
  private up = true;
  private failures = 0;
  /** Resolves once the running watch has its position (its first pass read, or an ask failed): changes from then on are pushed. */
  private positioned: Promise<void> = Promise.resolve();
  private markPositioned: () => void = () => undefined;
  /** Calls made to Core's change feed (tests and /metrics-style checks: one watch, not one per tab). */
  upstreamCalls = 0;

  constructor(
    private readonly config: PranaConfig,
    private readonly upstream: UpstreamService,
  ) {}

  get listening(): number {
    return this.listeners.size;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  get upstreamUp(): boolean {
    return this.up;
  }

  /**
   * Resolves when the watch has its position: a stream says `ready` only then, so that a view reloading on `ready`
   * misses nothing between its first load and the first push (a change before the position is in the reload).
   */
  whenPositioned(): Promise<void> {
    return this.positioned;
  }

  subscribe(listener: RunWatchListener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      if (!this.listeners.delete(listener)) return;
      if (this.listeners.size === 0) this.stop();
    };
  }

  onModuleDestroy(): void {
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    this.generation += 1;
    this.position = undefined;
    this.pass = undefined;
    this.seen.clear();
    this.up = true;
    this.failures = 0;
    this.positioned = new Promise((resolve) => (this.markPositioned = resolve));
    this.schedule(0, this.generation);
  }

  private stop(): void {
    this.generation += 1;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number, generation: number): void {
    this.timer = setTimeout(() => void this.tick(generation), ms);
    this.timer.unref?.();
  }

  private async tick(generation: number): Promise<void> {
    let delay = this.config.PRANA_STREAM_POLL_MS;
    try {
      // Each pass reads the feed from the position less the overlap to its end, a page at a time, each page from
      // Core's cursor after the last: many runs share one updated_at (one statement updates a batch), and however many
      // changed in the overlap, a pass never asks for the same page twice. Listeners load their view when they
      // connect: the first pass only sets the position.
      const first = this.position === undefined;
      const pass = this.pass ?? { since: new Date((first ? Date.now() : Date.parse(this.position!)) - WATCH_OVERLAP_MS).toISOString(), cursor: undefined, first };
      const bearer = await this.upstream.serviceBearer('core');
      // Stopped while the token was made: no ask on behalf of nobody.
      if (generation !== this.generation) return;
      this.upstreamCalls += 1;
      const after = pass.cursor ? `&cursor=${encodeURIComponent(pass.cursor)}` : '';
      const answer = await this.upstream.call('core', 'GET', `/runs?updated_since=${encodeURIComponent(pass.since)}&include_children=true&limit=${PAGE}${after}`, { bearer });
      if (generation !== this.generation) return;
      if (answer.status !== 200) throw new Error(`core answered ${answer.status} to the runs change feed`);
      const body = answer.body as RunListResponse;
      const changed: RunSummaryView[] = [];
      for (const run of body.runs ?? []) {
        const at = run.updated_at ?? run.completed_at ?? run.started_at ?? run.created_at;
        const known = this.seen.get(run.run_id);
        if (known !== undefined && known >= at) continue;
        this.seen.set(run.run_id, at);
        if (!pass.first) changed.push(run);
        if (!this.position || at > this.position) this.position = at;
      }
      if (!this.position) this.position = pass.since;
      this.forget();
      if (!this.up) {
        this.up = true;
        this.emit({ type: 'upstream', up: true });
      }
      this.failures = 0;
      if (changed.length) this.emit({ type: 'runs', runs: changed });
      // A full page: more are waiting; the pass goes on at once, after this page.
      const more = (body.runs?.length ?? 0) >= PAGE && !!body.next_cursor;
      this.pass = more ? { ...pass, cursor: body.next_cursor! } : undefined;
      if (more) delay = 0;
    } catch (error) {
      if (generation !== this.generation) return;
      // The pass resumes from its last page; ready is said below, so what it reads from now on is pushed.
      if (this.pass) this.pass.first = false;
      this.failures += 1;
      delay = Math.min(MAX_BACKOFF_MS, this.config.PRANA_STREAM_POLL_MS * 2 ** Math.min(this.failures, 4));
      if (this.up) {
        this.up = false;
        this.logger.warn(`live stream: the runs change feed failed: ${(error as Error).message}`);
        this.emit({ type: 'upstream', up: false, message: 'Core is not answering; live updates paused' });
      }
    }
    if (generation !== this.generation) return;
    if (!this.pass?.first) this.markPositioned();
    this.schedule(delay, generation);
  }

  /** Keeps the de-duplication map to the overlap window. */
  private forget(): void {
    if (!this.position) return;
    const horizon = new Date(Date.parse(this.position) - 2 * WATCH_OVERLAP_MS).toISOString();
    for (const [id, at] of this.seen) if (at < horizon) this.seen.delete(id);
  }

  private emit(event: RunWatchEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn(`live stream listener failed: ${(error as Error).message}`);
      }
    }
  }
}
