export interface OutboxOptions {
  /** Start the relay loop on application bootstrap (tests turn it off and drive `drainOnce`). */
  enabled: boolean;
  pollIntervalMs: number;
  batchSize: number;
  /** Deliveries in flight at once per relay. */
  concurrency: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Delivery attempts before a retryable failure becomes a dead letter. */
  maxAttempts: number;
  /** A delivery still running after this counts as a retryable failure. */
  deliveryTimeoutMs: number;
  /** How long a claimed row stays invisible to other relays; must outlast a whole batch. */
  leaseMs: number;
  /** How long shutdown waits for in-flight deliveries. */
  shutdownTimeoutMs: number;
}

/** Injection token for the resolved OutboxOptions. */
export const OUTBOX_OPTIONS = Symbol('OUTBOX_OPTIONS');

interface Field {
  env: string;
  fallback: number;
  min: number;
}

const NUMERIC_FIELDS: Record<Exclude<keyof OutboxOptions, 'enabled'>, Field> = {
  pollIntervalMs: { env: 'OUTBOX_POLL_INTERVAL_MS', fallback: 250, min: 1 },
  batchSize: { env: 'OUTBOX_BATCH_SIZE', fallback: 50, min: 1 },
  concurrency: { env: 'OUTBOX_CONCURRENCY', fallback: 8, min: 1 },
  baseDelayMs: { env: 'OUTBOX_BASE_DELAY_MS', fallback: 200, min: 0 },
  maxDelayMs: { env: 'OUTBOX_MAX_DELAY_MS', fallback: 30_000, min: 0 },
  // Transient failures are retried for about a day (mean wait ≈ maxDelay/2 once backoff reaches the cap),
  // so a receiver that is down for hours is caught up with when it returns; 4xx verdicts still dead-letter
  // at once. Twelve attempts gave up after about a minute of outage, and nothing replays dead letters.
  maxAttempts: { env: 'OUTBOX_MAX_ATTEMPTS', fallback: 6000, min: 1 },
  deliveryTimeoutMs: { env: 'OUTBOX_DELIVERY_TIMEOUT_MS', fallback: 10_000, min: 1 },
  leaseMs: { env: 'OUTBOX_LEASE_MS', fallback: 120_000, min: 1 },
  shutdownTimeoutMs: { env: 'OUTBOX_SHUTDOWN_TIMEOUT_MS', fallback: 10_000, min: 0 },
};

/**
 * Explicit overrides win over OUTBOX_* environment variables, which win over the defaults.
 * Read once at start; a bad value stops the process with a message naming the variable.
 */
export function resolveOutboxOptions(
  overrides: Partial<OutboxOptions> = {},
  env: NodeJS.ProcessEnv = process.env,
): OutboxOptions {
  const numbers = {} as Record<keyof typeof NUMERIC_FIELDS, number>;
  for (const [key, field] of Object.entries(NUMERIC_FIELDS) as [keyof typeof NUMERIC_FIELDS, Field][]) {
    const override = overrides[key];
    const raw = env[field.env];
    let value: number;
    let source: string;
    if (override !== undefined) {
      value = override;
      source = `outbox option ${key}`;
    } else if (raw !== undefined && raw.trim() !== '') {
      value = Number(raw.trim());
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
  // Rows of one batch are delivered ceil(batch/concurrency) rounds deep; a lease shorter than that would let
  // another relay claim a row this one is still about to deliver.
  const worstBatchMs = Math.ceil(numbers.batchSize / numbers.concurrency) * numbers.deliveryTimeoutMs;
  if (numbers.leaseMs <= worstBatchMs) {
    throw new Error(
      `Invalid OUTBOX_LEASE_MS: ${numbers.leaseMs} must exceed ceil(OUTBOX_BATCH_SIZE / OUTBOX_CONCURRENCY) * ` +
        `OUTBOX_DELIVERY_TIMEOUT_MS = ${worstBatchMs}`,
    );
  }
  return { enabled: overrides.enabled ?? parseBoolean(env.OUTBOX_RELAY_ENABLED, true), ...numbers };
}

function parseBoolean(raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new Error(`Invalid OUTBOX_RELAY_ENABLED: ${JSON.stringify(raw)} (expected true or false)`);
}
