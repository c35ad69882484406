export interface OutboxOptions {
  /** Start the relay loop on application bootstrap (tests turn it off and drive `drainOnce`). */
  enabled: boolean;
  /** Pause between claim rounds when there was nothing (more) to claim. */
  pollIntervalMs: number;
  /**
   * Least time between two claims while pokes (commits that enqueued rows) keep coming, so the rows of the commits
   * in between leave in one claim and one request per topic (like Kafka's linger.ms). The first poke after a claim
   * that found nothing claims at once; claims that come back full (a backlog) and a delivery that frees an ordering
   * key never wait. 0 claims on every poke.
   */
  lingerMs: number;
  /** Most rows one claim statement takes. */
  batchSize: number;
  /** Deliveries in flight at once per relay (a batch handed to a handler's deliverBatch is one). */
  concurrency: number;
  /** Most messages handed to one `deliverBatch` call (handlers that implement it; a handler's own maxBatch wins). */
  maxBatch: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Delivery attempts before a retryable failure becomes a dead letter. */
  maxAttempts: number;
  /** A delivery still running after this counts as a retryable failure. */
  deliveryTimeoutMs: number;
  /**
   * How long a claimed row stays invisible to other relays without being renewed. The relay renews the leases
   * of the rows it holds every leaseMs/3, so this is also how long rows of a crashed process wait.
   */
  leaseMs: number;
  /** How long shutdown waits for in-flight deliveries. */
  shutdownTimeoutMs: number;
  /** Delivered rows older than this are deleted (OutboxPruner); 0 keeps them forever. Pending and dead rows stay. */
  retentionHours: number;
}

/** Injection token for the resolved OutboxOptions. */
export const OUTBOX_OPTIONS = Symbol('OUTBOX_OPTIONS');

/**
 * The OUTBOX_* settings as the app's validated config class holds them (see withOutboxConfig). Strings are
 * accepted too, so a plain record of variables works in tests.
 */
export interface OutboxEnv {
  OUTBOX_RELAY_ENABLED?: boolean | string;
  OUTBOX_POLL_INTERVAL_MS?: number | string;
  OUTBOX_LINGER_MS?: number | string;
  OUTBOX_BATCH_SIZE?: number | string;
  OUTBOX_CONCURRENCY?: number | string;
  OUTBOX_MAX_BATCH?: number | string;
  OUTBOX_BASE_DELAY_MS?: number | string;
  OUTBOX_MAX_DELAY_MS?: number | string;
  OUTBOX_MAX_ATTEMPTS?: number | string;
  OUTBOX_DELIVERY_TIMEOUT_MS?: number | string;
  OUTBOX_LEASE_MS?: number | string;
  OUTBOX_SHUTDOWN_TIMEOUT_MS?: number | string;
  OUTBOX_RETENTION_HOURS?: number | string;
}

type NumericOption = Exclude<keyof OutboxOptions, 'enabled'>;

export interface OutboxField {
  env: Exclude<keyof OutboxEnv, 'OUTBOX_RELAY_ENABLED'>;
  fallback: number;
  min: number;
}

export const OUTBOX_NUMERIC_FIELDS: Readonly<Record<NumericOption, OutboxField>> = {
  pollIntervalMs: { env: 'OUTBOX_POLL_INTERVAL_MS', fallback: 250, min: 1 },
  lingerMs: { env: 'OUTBOX_LINGER_MS', fallback: 80, min: 0 },
  batchSize: { env: 'OUTBOX_BATCH_SIZE', fallback: 200, min: 1 },
  concurrency: { env: 'OUTBOX_CONCURRENCY', fallback: 16, min: 1 },
  maxBatch: { env: 'OUTBOX_MAX_BATCH', fallback: 100, min: 1 },
  baseDelayMs: { env: 'OUTBOX_BASE_DELAY_MS', fallback: 200, min: 0 },
  maxDelayMs: { env: 'OUTBOX_MAX_DELAY_MS', fallback: 30_000, min: 0 },
  // Transient failures are retried for about a day (mean wait ≈ maxDelay/2 once backoff reaches the cap),
  // so a receiver that is down for hours is caught up with when it returns; 4xx verdicts still dead-letter
  // at once. Twelve attempts gave up after about a minute of outage, and nothing replays dead letters.
  maxAttempts: { env: 'OUTBOX_MAX_ATTEMPTS', fallback: 6000, min: 1 },
  deliveryTimeoutMs: { env: 'OUTBOX_DELIVERY_TIMEOUT_MS', fallback: 10_000, min: 1 },
  // Renewed while the rows are held, so it bounds only how long a crashed relay's rows wait (kill -9 → a few
  // seconds), not how long a delivery may take.
  leaseMs: { env: 'OUTBOX_LEASE_MS', fallback: 5_000, min: 300 },
  shutdownTimeoutMs: { env: 'OUTBOX_SHUTDOWN_TIMEOUT_MS', fallback: 10_000, min: 0 },
  // A week, like pg-boss's default for completed jobs: long enough to answer "was it sent" about last week's
  // incident, short enough that the table stays the size of a week's traffic. 0 keeps delivered rows forever.
  retentionHours: { env: 'OUTBOX_RETENTION_HOURS', fallback: 168, min: 0 },
};

/**
 * Explicit overrides (tests) win over the app's validated config, which wins over the defaults. The library
 * never reads process.env: the app reads its environment once, into its config class.
 * A bad value stops the process with a message naming the variable.
 */
export function resolveOutboxOptions(overrides: Partial<OutboxOptions> = {}, config: OutboxEnv = {}): OutboxOptions {
  const numbers = {} as Record<NumericOption, number>;
  for (const [key, field] of Object.entries(OUTBOX_NUMERIC_FIELDS) as [NumericOption, OutboxField][]) {
    const override = overrides[key];
    const raw = config[field.env];
    let value: number;
    let source: string;
    if (override !== undefined) {
      value = override;
      source = `outbox option ${key}`;
    } else if (raw !== undefined && String(raw).trim() !== '') {
      value = typeof raw === 'number' ? raw : Number(String(raw).trim());
      source = field.env;
    } else {
      value = field.fallback;
      source = field.env;
    }
    if (!Number.isInteger(value) || value < field.min) {
      throw new Error(`Invalid ${source}: ${JSON.stringify(override ?? raw)} (expected an integer >= ${field.min})`);
    }
    numbers[key] = value;
  }
  if (numbers.maxDelayMs < numbers.baseDelayMs) {
    throw new Error(
      `Invalid OUTBOX_MAX_DELAY_MS: ${numbers.maxDelayMs} is below OUTBOX_BASE_DELAY_MS ${numbers.baseDelayMs}`,
    );
  }
  return { enabled: overrides.enabled ?? parseBoolean(config.OUTBOX_RELAY_ENABLED, true), ...numbers };
}

function parseBoolean(raw: boolean | string | undefined, fallback: boolean): boolean {
  if (typeof raw === 'boolean') return raw;
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new Error(`Invalid OUTBOX_RELAY_ENABLED: ${JSON.stringify(raw)} (expected true or false)`);
}
