import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { SpanKind, trace } from '@opentelemetry/api';
import { extractTraceContext, runInTraceContext } from '@pancha/trace-context';
import { OutboxDeliveryError } from './outbox-delivery.error';
import { OUTBOX_HANDLERS, type OutboxHandler, type OutboxMessage } from './outbox-handler.interface';
import { type DeliveryOutcome, type OutboxTransition, decideTransition, outcomeFromError } from './outbox-transition';
import { OUTBOX_OPTIONS, type OutboxOptions, resolveOutboxOptions } from './outbox.options';
import { type ClaimedOutboxEntry, OutboxStore } from './outbox.store';

/** Longest pause between polls while the database is unreachable. */
const MAX_ERROR_BACKOFF_MS = 5_000;

/**
 * Delivers committed outbox rows to their topic's handler, at least once, in the trace they were enqueued in.
 * One per process; any number of processes may share a table (rows are leased with FOR UPDATE SKIP LOCKED).
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly handlers = new Map<string, OutboxHandler>();
  private readonly options: OutboxOptions;
  private running = false;
  private loop?: Promise<void>;
  private pokeRequested = false;
  private wake?: () => void;

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

  /** Stops polling and waits (bounded by shutdownTimeoutMs) for deliveries in flight. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    const loop = this.loop;
    this.loop = undefined;
    if (!loop) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      loop.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.options.shutdownTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.logger.warn({
        msg: 'outbox relay stopped with deliveries still in flight; their leases will expire and they will be retried',
        shutdown_timeout_ms: this.options.shutdownTimeoutMs,
      });
    }
  }

  /** Asks for a claim round now instead of at the next poll (called after a commit that enqueued rows). */
  poke(): void {
    this.pokeRequested = true;
    this.wake?.();
  }

  /**
   * One round: lease a batch of due rows, deliver them with bounded concurrency, record each outcome.
   * Returns how many rows were claimed. Throws only if the claim itself fails (database unreachable).
   */
  async drainOnce(): Promise<number> {
    const entries = await this.store.claim(this.options.batchSize, this.options.leaseMs);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries.length) {
        await this.process(entries[next++]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, entries.length) }, worker));
    return entries.length;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.pokeRequested = false;
      let claimed = 0;
      try {
        claimed = await this.drainOnce();
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
      // A full batch or a poke during the round means there is likely more to do right away.
      if (failures === 0 && (claimed >= this.options.batchSize || this.pokeRequested)) continue;
      const pause =
        failures === 0
          ? this.options.pollIntervalMs
          : Math.max(this.options.pollIntervalMs, Math.min(MAX_ERROR_BACKOFF_MS, this.options.pollIntervalMs * 2 ** failures));
      await this.sleep(pause);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.pokeRequested || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }

  /** Never throws: every failure becomes a recorded transition or, if even that fails, a log line and a lease expiry. */
  private async process(entry: ClaimedOutboxEntry): Promise<void> {
    const handler = this.handlers.get(entry.topic);
    const outcome: DeliveryOutcome = handler ? await this.attempt(handler, entry) : { kind: 'no_handler' };
    const transition = decideTransition(entry.attempts, outcome, this.options);
    let recorded: boolean;
    try {
      recorded = await this.store.complete(entry, transition);
    } catch (error) {
      this.logger.error({
        msg: 'outbox outcome could not be recorded; the message will be retried when its lease expires',
        topic: entry.topic,
        message_key: entry.messageKey,
        attempts: transition.attempts,
        outcome: transition.kind,
        error: describe(error),
      });
      return;
    }
    this.logOutcome(entry, transition, recorded);
  }

  private async attempt(handler: OutboxHandler, entry: ClaimedOutboxEntry): Promise<DeliveryOutcome> {
    const message: OutboxMessage = {
      id: entry.id,
      topic: entry.topic,
      messageKey: entry.messageKey,
      payload: entry.payload,
      headers: { ...entry.headers },
      attempts: entry.attempts,
    };
    try {
      await runInTraceContext(
        entry.headers,
        `outbox deliver ${entry.topic}`,
        SpanKind.PRODUCER,
        () => this.withTimeout(() => handler.deliver(message)),
        {
          'messaging.system': 'pancha_outbox',
          'messaging.destination.name': entry.topic,
          'messaging.message.id': entry.id,
          'pancha.outbox.attempt': entry.attempts + 1,
        },
      );
      return { kind: 'success' };
    } catch (error) {
      return outcomeFromError(error);
    }
  }

  private async withTimeout(deliver: () => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.options.deliveryTimeoutMs;
    try {
      await Promise.race([
        // Promise.resolve().then turns a handler that throws synchronously into a rejection.
        Promise.resolve().then(deliver),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new OutboxDeliveryError(`delivery timed out after ${timeoutMs} ms`, { retryable: true })),
            timeoutMs,
          );
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
        msg: 'outbox lease expired before the outcome was recorded; the relay that re-claimed the row decides',
        ...fields,
        outcome: transition.kind,
      });
      return;
    }
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
