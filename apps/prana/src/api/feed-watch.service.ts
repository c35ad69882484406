import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { BucketEntry, BucketStats, EventsPage, KarmaLedgerHead } from '@pancha/contracts';
import { PranaConfig } from '../config/env.validation';
import { UpstreamService, type Upstream } from './upstream.service';

/** What a subscriber of a feed hears. */
export type FeedEvent =
  | { type: 'audit'; entries: BucketEntry[] }
  | { type: 'karma'; user_id: string; marker: KarmaMarker }
  | { type: 'upstream'; service: Upstream; up: boolean; message?: string };
export type FeedListener = (event: FeedEvent) => void;

/** Where a user's karma ledger stands: it moves exactly when Karma records something for them. */
export type KarmaMarker = Pick<KarmaLedgerHead, 'entries' | 'last_seq' | 'last_at'>;

const AUDIT_PAGE = 500;
const MAX_BACKOFF_MS = 10_000;

/** One polling loop on a service's feed, shared by its listeners; it starts with the first and stops with the last. */
interface Loop<S> {
  key: string;
  service: Upstream;
  listeners: Set<FeedListener>;
  timer: NodeJS.Timeout | undefined;
  generation: number;
  /** undefined until the first ask has set the position (listeners load their view when they connect). */
  state: S | undefined;
  up: boolean;
  failures: number;
  /** Resolves once the loop has its position (or its first ask failed). */
  positioned: Promise<void>;
  markPositioned: () => void;
  /** Asks the service once: the new state, the events to hand out, and whether to ask again at once. */
  step: (state: S | undefined) => Promise<{ state: S; events: FeedEvent[]; again?: boolean }>;
}

/**
 * The BFF's other upstream watches of the live stream, beside RunWatch (Core's runs): Bucket's chain (`audit`: one
 * loop for everyone, entries after the last seq it saw, with PRANA's identity) and a user's karma (`karma:<user>`:
 * one loop per user watched, Karma's per-user counts). However many tabs listen, each feed is asked by one loop;
 * each stream then passes on only what its person may see (stream.controller.ts).
 */
@Injectable()
export class FeedWatch implements OnModuleDestroy {
  private readonly logger = new Logger(FeedWatch.name);
  private readonly loops = new Map<string, Loop<unknown>>();
  /** Calls made to the services' feeds, by loop key (tests: one loop, not one per tab). */
  readonly upstreamCalls = new Map<string, number>();

  constructor(
    private readonly config: PranaConfig,
    private readonly upstream: UpstreamService,
  ) {}

  /** Loops running now (tests and diagnostics). */
  get running(): string[] {
    return [...this.loops.keys()];
  }

  /** Resolves when the loop of `key` has its position (see RunWatch.whenPositioned); at once when none runs. */
  whenPositioned(key: string): Promise<void> {
    return this.loops.get(key)?.positioned ?? Promise.resolve();
  }

  upstreamUp(key: string): boolean {
    return this.loops.get(key)?.up ?? true;
  }

  /** New Bucket entries, in seq order. */
  subscribeAudit(listener: FeedListener): () => void {
    return this.subscribe('audit', 'bucket', listener, (state: number | undefined) => this.auditStep(state));
  }

  /** A user's karma changed (an event or a ledger entry recorded for them). */
  subscribeKarma(userId: string, listener: FeedListener): () => void {
    return this.subscribe(`karma:${userId}`, 'karma', listener, (state: string | undefined) => this.karmaStep(userId, state));
  }

  onModuleDestroy(): void {
    for (const loop of this.loops.values()) this.stop(loop);
    this.loops.clear();
  }

  private subscribe<S>(key: string, service: Upstream, listener: FeedListener, step: Loop<S>['step']): () => void {
    let loop = this.loops.get(key) as Loop<S> | undefined;
    if (!loop) {
      let markPositioned: () => void = () => undefined;
      const positioned = new Promise<void>((resolve) => (markPositioned = resolve));
      loop = { key, service, listeners: new Set(), timer: undefined, generation: 0, state: undefined, up: true, failures: 0, positioned, markPositioned, step };
      this.loops.set(key, loop as Loop<unknown>);
    }
    loop.listeners.add(listener);
    if (loop.listeners.size === 1) this.schedule(loop as Loop<unknown>, 0, loop.generation);
    const mine = loop;
    return () => {
      if (!mine.listeners.delete(listener)) return;
      if (mine.listeners.size === 0) {
        this.stop(mine as Loop<unknown>);
        if (this.loops.get(key) === (mine as Loop<unknown>)) this.loops.delete(key);
      }
    };
  }

  private stop(loop: Loop<unknown>): void {
    loop.generation += 1;
    if (loop.timer) clearTimeout(loop.timer);
    loop.timer = undefined;
  }

  private schedule(loop: Loop<unknown>, ms: number, generation: number): void {
    loop.timer = setTimeout(() => void this.tick(loop, generation), ms);
    loop.timer.unref?.();
  }

  private async tick(loop: Loop<unknown>, generation: number): Promise<void> {
    let delay = this.config.PRANA_STREAM_POLL_MS;
    try {
      this.upstreamCalls.set(loop.key, (this.upstreamCalls.get(loop.key) ?? 0) + 1);
      const { state, events, again } = await loop.step(loop.state);
      if (generation !== loop.generation) return;
      loop.state = state;
      if (!loop.up) {
        loop.up = true;
        this.emit(loop, { type: 'upstream', service: loop.service, up: true });
      }
      loop.failures = 0;
      for (const event of events) this.emit(loop, event);
      if (again) delay = 0;
    } catch (error) {
      if (generation !== loop.generation) return;
      loop.failures += 1;
      delay = Math.min(MAX_BACKOFF_MS, this.config.PRANA_STREAM_POLL_MS * 2 ** Math.min(loop.failures, 4));
      if (loop.up) {
        loop.up = false;
        this.logger.warn(`live stream: the ${loop.key} feed failed: ${(error as Error).message}`);
        this.emit(loop, { type: 'upstream', service: loop.service, up: false, message: `${loop.service} is not answering; live updates paused` });
      }
    }
    if (generation !== loop.generation) return;
    loop.markPositioned();
    this.schedule(loop, delay, generation);
  }

  /** Bucket: the first ask finds the head (every entry before it is already in the views); then entries after it. */
  private async auditStep(afterSeq: number | undefined): Promise<{ state: number; events: FeedEvent[]; again?: boolean }> {
    const bearer = await this.upstream.serviceBearer('bucket');
    if (afterSeq === undefined) {
      const stats = await this.ask<BucketStats>('bucket', '/core/stats', bearer, 'stats');
      return { state: stats.size ?? 0, events: [] };
    }
    const page = await this.ask<EventsPage>('bucket', `/core/events?after_seq=${afterSeq}&limit=${AUDIT_PAGE}`, bearer, 'events feed');
    const entries = page.events ?? [];
    if (entries.length === 0) return { state: afterSeq, events: [] };
    return { state: entries[entries.length - 1].seq, events: [{ type: 'audit', entries }], again: page.next_after_seq !== null };
  }

  /**
   * Karma: where the user's ledger stands (`GET /v1/karma/<user>/head`, one index lookup: the profile itself is a
   * fold of every entry, far too dear to ask every second); a change from the last ask is a push.
   */
  private async karmaStep(userId: string, last: string | undefined): Promise<{ state: string; events: FeedEvent[] }> {
    const bearer = await this.upstream.serviceBearer('karma');
    const head = await this.ask<KarmaLedgerHead>('karma', `/v1/karma/${encodeURIComponent(userId)}/head`, bearer, 'ledger head');
    const marker: KarmaMarker = { entries: head.entries ?? 0, last_seq: head.last_seq ?? null, last_at: head.last_at ?? null };
    const key = JSON.stringify(marker);
    return { state: key, events: last !== undefined && last !== key ? [{ type: 'karma', user_id: userId, marker }] : [] };
  }

  private async ask<T>(service: Upstream, path: string, bearer: string, what: string): Promise<T> {
    const answer = await this.upstream.call(service, 'GET', path, { bearer });
    if (answer.status !== 200) throw new Error(`${service} answered ${answer.status} to the ${what}`);
    return answer.body as T;
  }

  private emit(loop: Loop<unknown>, event: FeedEvent): void {
    for (const listener of [...loop.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn(`live stream listener failed: ${(error as Error).message}`);
      }
    }
  }
}
