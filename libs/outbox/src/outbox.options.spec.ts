import { validateSync } from 'class-validator';
import { plainToInstance } from 'class-transformer';
import { withOutboxConfig } from './outbox-config';
import { resolveOutboxOptions } from './outbox.options';

describe('resolveOutboxOptions', () => {
  it('defaults', () => {
    expect(resolveOutboxOptions({}, {})).toEqual({
      enabled: true,
      pollIntervalMs: 250,
      lingerMs: 80,
      batchSize: 200,
      concurrency: 16,
      maxBatch: 100,
      baseDelayMs: 200,
      maxDelayMs: 30_000,
      maxAttempts: 6000,
      deliveryTimeoutMs: 10_000,
      leaseMs: 5_000,
      shutdownTimeoutMs: 10_000,
      retentionHours: 168,
    });
  });

  it("reads the OUTBOX_* fields of the app's config, and explicit options win over them", () => {
    const config = { OUTBOX_POLL_INTERVAL_MS: 100, OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_RELAY_ENABLED: false };
    expect(resolveOutboxOptions({}, config)).toMatchObject({ pollIntervalMs: 100, maxAttempts: 3, enabled: false });
    expect(resolveOutboxOptions({ maxAttempts: 7, enabled: true }, config)).toMatchObject({ maxAttempts: 7, enabled: true });
  });

  it('never reads process.env: the app reads its environment once, into its config', () => {
    const saved = { ...process.env };
    Object.assign(process.env, { OUTBOX_BATCH_SIZE: 'lots', OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_RELAY_ENABLED: 'maybe' });
    try {
      expect(resolveOutboxOptions({}, { OUTBOX_BATCH_SIZE: 7 })).toMatchObject({ batchSize: 7, maxAttempts: 6000, enabled: true });
      expect(resolveOutboxOptions()).toMatchObject({ batchSize: 200, maxAttempts: 6000, enabled: true });
    } finally {
      for (const name of ['OUTBOX_BATCH_SIZE', 'OUTBOX_MAX_ATTEMPTS', 'OUTBOX_RELAY_ENABLED']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  it('names the variable that is wrong', () => {
    expect(() => resolveOutboxOptions({}, { OUTBOX_BATCH_SIZE: 'lots' })).toThrow(/Invalid OUTBOX_BATCH_SIZE: "lots"/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_MAX_ATTEMPTS: '0' })).toThrow(/OUTBOX_MAX_ATTEMPTS/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_RELAY_ENABLED: 'maybe' })).toThrow(/OUTBOX_RELAY_ENABLED/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_MAX_DELAY_MS: '10' })).toThrow(/OUTBOX_MAX_DELAY_MS/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_LEASE_MS: 100 })).toThrow(/OUTBOX_LEASE_MS.*>= 300/);
    expect(() => resolveOutboxOptions({}, { OUTBOX_RETENTION_HOURS: '-1' })).toThrow(/OUTBOX_RETENTION_HOURS/);
    expect(resolveOutboxOptions({}, { OUTBOX_RETENTION_HOURS: '0' }).retentionHours).toBe(0);
  });
});

describe('withOutboxConfig', () => {
  class BaseConfig {
    DATABASE_URL = 'postgres://x';
  }
  class AppConfig extends withOutboxConfig(BaseConfig) {
    OTHER = 'kept';
  }
  const load = (env: Record<string, string>) => {
    const config = plainToInstance(AppConfig, env, { exposeDefaultValues: true });
    return { config, errors: validateSync(config).map((e) => [e.property, Object.values(e.constraints ?? {}).join('; ')]) };
  };

  it('adds the OUTBOX_* variables, typed, to the app config class', () => {
    const { config, errors } = load({ OUTBOX_BATCH_SIZE: '20', OUTBOX_RELAY_ENABLED: 'off' });
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ DATABASE_URL: 'postgres://x', OTHER: 'kept', OUTBOX_BATCH_SIZE: 20, OUTBOX_RELAY_ENABLED: false });
    expect(resolveOutboxOptions({}, config)).toMatchObject({ batchSize: 20, enabled: false });
  });

  it('names each bad variable when the app validates its environment', () => {
    const { errors } = load({ OUTBOX_BATCH_SIZE: 'lots', OUTBOX_LEASE_MS: '10', OUTBOX_RELAY_ENABLED: 'maybe' });
    expect(errors).toEqual([
      ['OUTBOX_RELAY_ENABLED', 'OUTBOX_RELAY_ENABLED must be true or false'],
      ['OUTBOX_BATCH_SIZE', expect.stringContaining('OUTBOX_BATCH_SIZE must be an integer')],
      ['OUTBOX_LEASE_MS', 'OUTBOX_LEASE_MS must be at least 300'],
    ]);
  });
});
