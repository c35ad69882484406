import { randomUUID } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { extractTraceContext, getTracer, injectTraceHeaders, runInTraceContext } from '@pancha/trace-context';
import { computeBackoffMs } from './outbox-backoff';
import { recordOutboxOutcome } from './outbox-metrics';
import { OutboxDeliveryError, relayTimeoutError } from './outbox-delivery.error';
import { OUTBOX_HANDLERS, type OutboxBatchResult, type OutboxHandler, type OutboxMessage } from './outbox-handler.interface';
import { type DeliveryOutcome, type OutboxTransition, decideTransition, outcomeFromError } from './outbox-transition';
import { OUTBOX_OPTIONS, type OutboxOptions, resolveOutboxOptions } from './outbox.options';
import { type ClaimedOutboxEntry, OutboxStore, type SettledOutboxEntry } from './outbox.store';

/** Longest pause between polls while the database is unreachable. */
const MAX_ERROR_BACKOFF_MS = 5_000;
/** Most outcomes recorded by one statement. */
const MAX_SETTLE_BATCH = 500;
/**
 * Most rows of one ordering key a claim takes behind its head (a key run), whatever the handlers' maxBatch: a claim
 * holds at most batchSize × this many rows (200 × 25 = 5,000 at the defaults). A workflow round's events, the runs
 * this exists for, are a handful per key.
 */
const MAX_KEY_RUN = 25;

interface Job {
  entry: ClaimedOutboxEntry;
  done: () => void;
}

interface QueuedSettle {
  item: SettledOutboxEntry;
  resolve: (recorded: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Delivers committed outbox rows to their topic's handler, at least once, in the trace they were enqueued in.
 * One per process; any number of processes may share a table (rows are leased with FOR UPDATE SKIP LOCKED).
 *
 * Per round one claim statement leases up to `batchSize` rows of the topics this process handles; the rows are
 * delivered by `concurrency` workers, one row per worker, or, for a topic whose handler implements
 * `deliverBatch`, up to `maxBatch` claimed rows of that topic per worker in one call (never two rows of one
 * ordering key: the claim already holds back every row of a key but its earliest pending one; except, for a handler
 * that `ordersBatch`, the key's run of consecutive rows the claim took with it, which always share one batch); each
 * row of a batch keeps its own outcome, retry and dead letter. Delivered and retried outcomes are recorded together, one statement for
 * whatever finished while the previous one ran; the leases of every row held are renewed by one statement every
 * leaseMs/3, so a delivery may take as long as its timeout while a crashed process's rows come back within a
 * lease. A new round starts as soon as a worker is free and there was more to claim.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly handlers = new Map<string, OutboxHandler>();
  private readonly topics: string[];
  /** Topics whose handler takes a key's consecutive rows in one ordered batch (OutboxHandler.ordersBatch). */
  private readonly orderedTopics: string[];
  /** Most rows of one key per claim: the smallest batch of those handlers (Infinity when there are none; unused). */
  private readonly keyRun: number;
  private readonly options: OutboxOptions;
  private running = false;
  /** Set while stop() runs: no new delivery starts. */
  private stopping = false;
  private loop?: Promise<void>;
  private pokeRequested = false;
  /** A delivery freed an ordering key since the last claim (its next row is claimable). */
  private keyFreed = false;
  private wakeSleep?: () => void;
  private wakeLinger?: () => void;
  private wakeRoom?: () => void;

  /** Claimed rows no worker has started yet, in claim order. */
  private readonly waiting: Job[] = [];
  /** Rows being delivered (each takes a worker); rows whose outcome is being recorded are only held. */
  private delivering = 0;
  private readonly idleWaiters: (() => void)[] = [];
  /** Every row this relay holds until its outcome is recorded: the heartbeat renews their leases. */
  private readonly held = new Map<string, ClaimedOutboxEntry>();
  private heartbeat?: NodeJS.Timeout;
  private renewing = false;
  private renewFailures = 0;

  private settleQueue: QueuedSettle[] = [];
  private settling?: Promise<void>;

  constructor(
    private readonly store: OutboxStore,
    @Inject(OUTBOX_HANDLERS) handlers: readonly OutboxHandler[],
    @Inject(OUTBOX_OPTIONS) options: Partial<OutboxOptions> = {},
  ) {
    this.options = resolveOutboxOptions(options);
    for (const handler of handlers) {
      if (this.handlers.has(handler.topic)) {
        throw new Error(`Two outbox handlers for topic "${handler.topic}": each topic has exactly one`);
      }
      this.handlers.set(handler.topic, handler);
    }
    this.topics = [...this.handlers.keys()];
    const ordered = [...this.handlers.values()].filter((h) => h.deliverBatch && h.ordersBatch);
    this.orderedTopics = ordered.map((h) => h.topic);
    // A key's rows must fit in one batch: they are delivered together or the later ones would overtake the earlier.
    this.keyRun = Math.min(MAX_KEY_RUN, ...ordered.map((h) => Math.max(1, h.maxBatch ?? this.options.maxBatch)));
  }

  onApplicationBootstrap(): void {
    if (this.options.enabled) this.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run().catch((error: unknown) => {
      // run() handles its own errors; reaching here is a bug, and it must still not take the process down.
      this.logger.error({ msg: 'outbox relay loop stopped unexpectedly', error: describe(error) });
      this.running = false;
    });
  }

  /**
   * Stops claiming, gives back the rows claimed but not started (another process can take them at once) and
   * waits, bounded by shutdownTimeoutMs, for the deliveries in flight to be recorded.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    try {
      await this.shutDown();
    } finally {
      this.stopping = false;
    }
  }

  private async shutDown(): Promise<void> {
    this.wakeSleep?.();
    this.wakeLinger?.();
    this.wakeRoom?.();
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    const loop = this.loop;
    this.loop = undefined;
    if (loop) await this.within(loop, deadline);
    const notStarted = this.waiting.splice(0);
    if (notStarted.length > 0) {
      try {
        await this.store.release(notStarted.map((job) => job.entry));
      } catch (error) {
        this.logger.warn({ msg: 'outbox rows not started could not be released; their leases will lapse', error: describe(error) });
      }
      for (const job of notStarted) {
        this.held.delete(job.entry.id);
        job.done();
      }
    }
    const idle = await this.within(this.whenIdle(), deadline);
    if (!idle) {
      this.logger.warn({
        msg: 'outbox relay stopped with deliveries still in flight; their leases will lapse and they will be retried',
        shutdown_timeout_ms: this.options.shutdownTimeoutMs,
      });
    }
    this.stopHeartbeat();
  }

  /** Asks for a claim round now instead of at the next poll (called after a commit that enqueued rows). */
  poke(): void {
    this.pokeRequested = true;
    this.wakeSleep?.();
  }

  /**
   * One round: lease a batch of due rows, deliver them with bounded concurrency, record each outcome, and
   * return how many rows were claimed once all of them are recorded. Throws only if the claim itself fails.
   */
  async drainOnce(): Promise<number> {
    const entries = await this.claim();
    await Promise.all(this.schedule(entries));
    return entries.length;
  }

  private async run(): Promise<void> {
    let failures = 0;
    let full = false;
    let lastClaimAt = -Infinity;
    while (this.running) {
      await this.waitForRoom();
      if (!this.running) break;
      // At most one claim per lingerMs while pokes keep coming: the rows of the commits meanwhile join the next
      // claim. The first poke after a quiet spell (the last claim found nothing) claims at once, and a backlog
      // (full rounds) never waits.
      // A monotonic clock: a wall clock stepped back would stretch the wait by as much.
      const wait = lastClaimAt + this.options.lingerMs - performance.now();
      if (!full && !this.keyFreed && wait > 0) await this.linger(wait);
      if (!this.running) break;
      const claimStartedAt = performance.now();
      this.pokeRequested = false;
      this.keyFreed = false;
      let claimed = 0;
      try {
        const entries = await this.claim();
        // The claim's batch counts heads: a key run's followers ride along with their head.
        claimed = countHeads(entries);
        lastClaimAt = claimed > 0 ? claimStartedAt : -Infinity;
        void this.schedule(entries);
        if (failures > 0) this.logger.log({ msg: 'outbox relay reached the database again', failures });
        failures = 0;
      } catch (error) {
        failures++;
        // One line when the outage starts, then a reminder now and then rather than one per poll.
        if (failures === 1 || failures % 50 === 0) {
          this.logger.error({ msg: 'outbox relay cannot claim rows; will keep polling', failures, error: describe(error) });
        }
      }
      if (!this.running) break;
      full = failures === 0 && claimed >= this.options.batchSize;
      // A full batch or a poke during the round means there is likely more to do as soon as a worker is free.
      if (failures === 0 && (full || this.pokeRequested)) continue;
      const pause =
        failures === 0
          ? this.options.pollIntervalMs
          : Math.max(this.options.pollIntervalMs, Math.min(MAX_ERROR_BACKOFF_MS, this.options.pollIntervalMs * 2 ** failures));
      await this.sleep(pause);
    }
  }

  /** One statement; the rows are held (and their leases renewed) from here until their outcome is recorded. */
  private async claim(): Promise<ClaimedOutboxEntry[]> {
    const entries = await this.store.claim({
      limit: this.options.batchSize,
      leaseMs: this.options.leaseMs,
      topics: this.topics,
      lease: randomUUID(),
      ...(this.orderedTopics.length > 0 ? { orderedTopics: this.orderedTopics, keyRun: this.keyRun } : {}),
    });
    for (const entry of entries) this.held.set(entry.id, entry);
    if (this.held.size > 0) this.startHeartbeat();
    return entries;
  }

  private schedule(entries: readonly ClaimedOutboxEntry[]): Promise<void>[] {
    const finished = entries.map(
      (entry) => new Promise<void>((done) => this.waiting.push({ entry, done })),
    );
    this.pump();
    return finished;
  }

  private pump(): void {
    if (this.stopping) return;
    while (this.delivering < this.options.concurrency && this.waiting.length > 0) {
      const first = this.waiting.shift() as Job;
      // Only rows of topics with a handler here are ever claimed.
      const handler = this.handlers.get(first.entry.topic) as OutboxHandler;
      const jobs = handler.deliverBatch ? [first, ...this.takeBatchMates(first, handler)] : [first];
      this.delivering++;
      const freeWorker = (): void => {
        // The worker is free as soon as the downstream answered; recording the outcome goes on without it.
        this.delivering--;
        this.pump();
        this.notifyProgress();
      };
      // A lone row goes the single way even when the handler batches: the simplest request, in its own trace.
      const work = jobs.length === 1 ? this.process(first.entry, freeWorker) : this.processBatch(handler, jobs.map((job) => job.entry), freeWorker);
      void work.finally(() => {
        for (const job of jobs) {
          this.held.delete(job.entry.id);
          job.done();
        }
        if (this.held.size === 0) this.stopHeartbeat();
        this.notifyProgress();
      });
    }
  }

  /**
   * Takes from the waiting rows up to maxBatch − 1 more of `first`'s topic. The claim gives at most one row per
   * ordering key, or for an ordered topic (ordersBatch) a key's run of consecutive rows: those always go together,
   * in claim (enqueue) order, first's own run included; a run that does not fit waits whole for the next batch.
   */
  private takeBatchMates(first: Job, handler: OutboxHandler): Job[] {
    const limit = Math.max(1, handler.maxBatch ?? this.options.maxBatch);
    const topic = first.entry.topic;
    // Each key's waiting rows of the topic, in claim order: its run (a single row unless the topic is ordered).
    const runs = new Map<string, number[]>();
    this.waiting.forEach((job, i) => {
      const key = job.entry.orderingKey;
      if (key === null || job.entry.topic !== topic) return;
      const run = runs.get(key);
      if (run) run.push(i);
      else runs.set(key, [i]);
    });
    const taken = new Set<number>(first.entry.orderingKey === null ? [] : (runs.get(first.entry.orderingKey) ?? []));
    for (let i = 0; i < this.waiting.length && taken.size < limit - 1; i++) {
      const entry = this.waiting[i].entry;
      if (taken.has(i) || entry.topic !== topic) continue;
      const run = entry.orderingKey === null ? [i] : (runs.get(entry.orderingKey) as number[]);
      // A run that does not fit stays whole for the next batch (at its later rows it fits no better).
      if (taken.size + run.length <= limit - 1) for (const j of run) taken.add(j);
    }
    const mates = [...taken].sort((a, b) => a - b).map((i) => this.waiting[i]);
    this.waiting.splice(0, this.waiting.length, ...this.waiting.filter((_, i) => !taken.has(i)));
    return mates;
  }

  /**
   * Room for another claim: a worker free with nothing queued for it, and not too many outcomes still being
   * recorded (if the database is slow, claiming more would only hold more rows).
   */
  private get hasRoom(): boolean {
    return (
      this.waiting.length + this.delivering < this.options.concurrency &&
      this.held.size < Math.max(2 * this.options.batchSize, this.options.batchSize + this.options.concurrency)
    );
  }

  private notifyProgress(): void {
    if (this.hasRoom) this.wakeRoom?.();
    if (this.held.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Until there is room for another claim (or the relay stops). */
  private async waitForRoom(): Promise<void> {
    while (this.running && !this.hasRoom) {
      await new Promise<void>((resolve) => {
        this.wakeRoom = () => {
          this.wakeRoom = undefined;
          resolve();
        };
      });
    }
  }

  /** Until every row held is recorded (or given back). */
  private whenIdle(): Promise<void> {
    if (this.held.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** `ms`, cut short by stop() or a freed ordering key; pokes meanwhile are absorbed into the claim that follows. */
  private linger(ms: number): Promise<void> {
    return this.pause(ms, 'wakeLinger');
  }

  private sleep(ms: number): Promise<void> {
    if (this.pokeRequested || !this.running) return Promise.resolve();
    return this.pause(ms, 'wakeSleep');
  }

  /** `ms`, or until the function kept in `wake` is called. */
  private pause(ms: number, wake: 'wakeSleep' | 'wakeLinger'): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this[wake] = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this[wake] = done;
    });
  }

  /** Resolves true when `promise` settles before `deadline`, false otherwise. */
  private async within(promise: Promise<unknown>, deadline: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    // Rows held by a process that is exiting anyway are better left to lapse than kept alive by a timer.
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** One statement for every row held; a missed renewal only risks a second (deduplicated) delivery. */
  private async renewLeases(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    try {
      await this.store.renew([...this.held.values()], this.options.leaseMs);
      this.renewFailures = 0;
    } catch (error) {
      if (this.renewFailures++ % 20 === 0) {
        this.logger.warn({ msg: 'outbox leases could not be renewed; another relay may retry these rows', held: this.held.size, error: describe(error) });
      }
    } finally {
      this.renewing = false;
    }
  }

  /**
   * Never throws: every failure becomes a recorded transition or, if even that fails, a log line and a lease
   * expiry. `delivered` is called once the handler is done, before the outcome is recorded.
   */
  private async process(entry: ClaimedOutboxEntry, delivered: () => void): Promise<void> {
    // Only rows of topics with a handler here are ever claimed.
    const handler = this.handlers.get(entry.topic) as OutboxHandler;
    const message = toMessage(entry);
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.attempt(handler, message, entry);
    } finally {
      delivered();
    }
    await this.record(handler, message, entry, outcome);
  }

  /**
   * As `process`, for rows of one topic handed to the handler's deliverBatch in one call. Each row gets a
   * delivery span in its own trace (its headers, as the handler sees them, are that span's context, so the
   * receiver continues each message's trace); the call runs in a span of its own linked to them. Each row's
   * outcome is then recorded exactly as a single delivery's.
   */
  private async processBatch(handler: OutboxHandler, entries: readonly ClaimedOutboxEntry[], delivered: () => void): Promise<void> {
    const topic = entries[0].topic;
    const deliverBatch = (handler.deliverBatch as NonNullable<OutboxHandler['deliverBatch']>).bind(handler);
    const tracer = getTracer();
    const spans: Span[] = [];
    const sent: OutboxMessage[] = [];
    for (const entry of entries) {
      const parent = extractTraceContext(entry.headers);
      const span = tracer.startSpan(`outbox deliver ${topic}`, { kind: SpanKind.PRODUCER, attributes: deliveryAttributes(entry) }, parent);
      spans.push(span);
      sent.push({ ...toMessage(entry), headers: injectTraceHeaders({}, trace.setSpan(parent, span)) });
    }
    let results: readonly OutboxBatchResult[];
    try {
      results = await tracer.startActiveSpan(
        `outbox deliver batch ${topic}`,
        {
          kind: SpanKind.PRODUCER,
          links: spans.map((span) => ({ context: span.spanContext() })),
          attributes: { 'messaging.system': 'pancha_outbox', 'messaging.destination.name': topic, 'messaging.batch.message_count': entries.length },
        },
        ROOT_CONTEXT,
        async (span) => {
          try {
            const answered = await this.withTimeout(() => deliverBatch(sent));
            if (!Array.isArray(answered) || answered.length !== entries.length) {
              throw new OutboxDeliveryError(
                `deliverBatch answered ${Array.isArray(answered) ? answered.length : 'no'} results for ${entries.length} messages`,
                { retryable: true },
              );
            }
            return answered;
          } catch (error) {
            span.recordException(error instanceof Error ? error : new Error(String(error)));
            span.setStatus({ code: SpanStatusCode.ERROR, message: describe(error) });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    } catch (error) {
      results = entries.map(() => ({ ok: false, error }));
    } finally {
      delivered();
    }
    await Promise.all(
      entries.map((entry, i) => {
        const result = results[i];
        const outcome: DeliveryOutcome = result?.ok ? { kind: 'success' } : outcomeFromError(result?.error);
        if (outcome.kind === 'failure') spans[i].setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason });
        spans[i].end();
        return this.record(handler, toMessage(entry), entry, outcome);
      }),
    );
  }

  /** Records one row's outcome (settle, or bury with the handler's hook); never throws. */
  private async record(handler: OutboxHandler, message: OutboxMessage, entry: ClaimedOutboxEntry, outcome: DeliveryOutcome): Promise<void> {
    let transition = decideTransition(entry.attempts, outcome, this.options);
    let recorded: boolean;
    try {
      if (transition.kind === 'dead') {
        ({ recorded, transition } = await this.bury(handler, message, entry, transition));
      } else {
        recorded = await this.settle(entry, transition);
      }
    } catch (error) {
      this.logger.error({
        msg: 'outbox outcome could not be recorded; the message will be retried when its lease lapses',
        topic: entry.topic,
        message_key: entry.messageKey,
        attempts: transition.attempts,
        outcome: transition.kind,
        error: describe(error),
      });
      return;
    }
    this.logOutcome(entry, transition, recorded);
    // The next row of its ordering key may be claimable now: claim without lingering, since rows of one key committed
    // apart never share a claim and a run's events would otherwise reach their receiver a linger apart.
    if (recorded && entry.orderingKey !== null && transition.kind !== 'retry') {
      this.keyFreed = true;
      this.wakeLinger?.();
      this.poke();
    }
  }

  /**
   * The dead row, its dead letter and the handler's onDeadLetter commit together (its beforeDeadLetter first, outside
   * the transaction). If either hook fails, none of them happened: the message is retried with backoff (and buried
   * again once it fails again).
   */
  private async bury(
    handler: OutboxHandler,
    message: OutboxMessage,
    entry: ClaimedOutboxEntry,
    transition: Extract<OutboxTransition, { kind: 'dead' }>,
  ): Promise<{ recorded: boolean; transition: OutboxTransition }> {
    const onDeadLetter = handler.onDeadLetter?.bind(handler);
    if (!onDeadLetter) return { recorded: await this.store.bury(entry, transition), transition };
    try {
      const prepared = handler.beforeDeadLetter ? await handler.beforeDeadLetter(message, transition.reason) : undefined;
      const hook = (manager: Parameters<typeof onDeadLetter>[0]) => onDeadLetter(manager, message, transition.reason, prepared);
      return { recorded: await this.store.bury(entry, transition, hook), transition };
    } catch (error) {
      const retry: OutboxTransition = {
        kind: 'retry',
        attempts: transition.attempts,
        delayMs: computeBackoffMs(entry.attempts, { baseMs: this.options.baseDelayMs, maxMs: this.options.maxDelayMs }),
        error: `on_dead_letter_failed: ${describe(error)}; ${transition.reason}`,
      };
      return { recorded: await this.settle(entry, retry), transition: retry };
    }
  }

  /** Group commit: queued outcomes are written together by one statement while no other is in flight. */
  private settle(entry: ClaimedOutboxEntry, transition: SettledOutboxEntry['transition']): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.settleQueue.push({ item: { entry, transition }, resolve, reject });
      if (!this.settling) this.settling = this.flushSettles();
    });
  }

  private async flushSettles(): Promise<void> {
    try {
      // Outcomes queued in the same tick (every row of a batch) go into the first statement together.
      await Promise.resolve();
      while (this.settleQueue.length > 0) {
        const batch = this.settleQueue.splice(0, MAX_SETTLE_BATCH);
        try {
          const recorded = await this.store.settle(batch.map((queued) => queued.item));
          for (const queued of batch) queued.resolve(recorded.has(queued.item.entry.id));
        } catch (error) {
          for (const queued of batch) queued.reject(error);
        }
      }
    } finally {
      this.settling = undefined;
    }
  }

  private async attempt(handler: OutboxHandler, message: OutboxMessage, entry: ClaimedOutboxEntry): Promise<DeliveryOutcome> {
    try {
      await runInTraceContext(
        entry.headers,
        `outbox deliver ${entry.topic}`,
        SpanKind.PRODUCER,
        () => this.withTimeout(() => handler.deliver(message)),
        deliveryAttributes(entry),
      );
      return { kind: 'success' };
    } catch (error) {
      return outcomeFromError(error);
    }
  }

  private async withTimeout<T>(deliver: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.options.deliveryTimeoutMs;
    try {
      return await Promise.race([
        // Promise.resolve().then turns a handler that throws synchronously into a rejection.
        Promise.resolve().then(deliver),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(relayTimeoutError(timeoutMs)), timeoutMs);
          // A hung downstream call must not be what keeps a stopping process alive.
          timer.unref();
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private logOutcome(entry: ClaimedOutboxEntry, transition: OutboxTransition, recorded: boolean): void {
    // Logged after the delivery span ended, so name the message's own trace for the reader of the logs.
    const traceId = trace.getSpanContext(extractTraceContext(entry.headers))?.traceId;
    const fields = { topic: entry.topic, message_key: entry.messageKey, attempts: transition.attempts, trace_id: traceId };
    if (!recorded) {
      this.logger.warn({
        msg: 'outbox lease lapsed before the outcome was recorded; the relay that re-claimed the row decides',
        ...fields,
        outcome: transition.kind,
      });
      return;
    }
    recordOutboxOutcome(entry, transition);
    switch (transition.kind) {
      case 'delivered':
        this.logger.log({ msg: 'outbox message delivered', ...fields });
        return;
      case 'retry':
        this.logger.warn({ msg: 'outbox delivery failed; will retry', ...fields, retry_in_ms: transition.delayMs, error: transition.error });
        return;
      case 'dead':
        this.logger.error({ msg: 'outbox message moved to dead letter', ...fields, reason: transition.reason });
        return;
      default: {
        const unreachable: never = transition;
        throw new Error(`Unhandled outbox transition ${JSON.stringify(unreachable)}`);
      }
    }
  }
}

/** Rows of a claim that are not a key run's followers: every unkeyed row and one per ordering key. */
function countHeads(entries: readonly ClaimedOutboxEntry[]): number {
  const keys = new Set<string>();
  let heads = 0;
  for (const entry of entries) {
    if (entry.orderingKey === null) heads++;
    else if (!keys.has(entry.orderingKey)) {
      keys.add(entry.orderingKey);
      heads++;
    }
  }
  return heads;
}

function deliveryAttributes(entry: ClaimedOutboxEntry): Record<string, string | number> {
  return {
    'messaging.system': 'pancha_outbox',
    'messaging.destination.name': entry.topic,
    'messaging.message.id': entry.id,
    'pancha.outbox.attempt': entry.attempts + 1,
  };
}

function toMessage(entry: ClaimedOutboxEntry): OutboxMessage {
  return {
    id: entry.id,
    topic: entry.topic,
    messageKey: entry.messageKey,
    orderingKey: entry.orderingKey,
    payload: entry.payload,
    headers: { ...entry.headers },
    attempts: entry.attempts,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
