import { resolveOutboxOptions } from './outbox.options';

describe('resolveOutboxOptions', () => {
  it('defaults', () => {
    expect(resolveOutboxOptions({}, {})).toEqual({
      enabled: true,
      pollIntervalMs: 250,
      batchSize: 50,
      concurrency: 8,
      baseDelayMs: 200,
      maxDelayMs: 30_000,
      maxAttempts: 6000,
      deliveryTimeoutMs: 10_000,
      leaseMs: 120_000,
      shutdownTimeoutMs: 10_000,
    });
  });

  it('reads OUTBOX_* variables, and explicit options win over them', () => {
    const env = { OUTBOX_POLL_INTERVAL_MS: '100', OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_RELAY_ENABLED: 'false' };
    expect(resolveOutboxOptions({}, env)).toMatchObject({ pollIntervalMs: 100, maxAttempts: 3, enabled: false });
    expect(resolveOutboxOptions({ maxAttempts: 7, enabled: true }, env)).toMatchObject({ maxAttempts: 7, enabled: true });
  });

  it('names the variable that is wrong', () => {
    expect(() => resolveOutboxOptions({}, { OUTBOX_BATCH_SIZE: 'lots' })).toThrow(/Invalid OUTBOX_BATCH_SIZE: "lots"/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_MAX_ATTEMPTS: '0' })).toThrow(/OUTBOX_MAX_ATTEMPTS/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_RELAY_ENABLED: 'maybe' })).toThrow(/OUTBOX_RELAY_ENABLED/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_MAX_DELAY_MS: '10' })).toThrow(/OUTBOX_MAX_DELAY_MS/);
  });

  it('rejects a lease that a full batch of slow deliveries could outlive', () => {
    expect(() => resolveOutboxOptions({}, { OUTBOX_LEASE_MS: '60000' })).toThrow(/OUTBOX_LEASE_MS.*70000/);
  });
});
