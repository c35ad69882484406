import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, Min } from 'class-validator';
import { OUTBOX_NUMERIC_FIELDS, type OutboxField } from './outbox.options';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- TypeScript's mixin pattern requires any[] here
type Constructor<T = object> = new (...args: any[]) => T;

/** The OUTBOX_* fields an app's config class gains from withOutboxConfig. */
export interface OutboxConfigFields {
  OUTBOX_RELAY_ENABLED?: boolean;
  OUTBOX_POLL_INTERVAL_MS?: number;
  OUTBOX_LINGER_MS?: number;
  OUTBOX_BATCH_SIZE?: number;
  OUTBOX_CONCURRENCY?: number;
  OUTBOX_MAX_BATCH?: number;
  OUTBOX_BASE_DELAY_MS?: number;
  OUTBOX_MAX_DELAY_MS?: number;
  OUTBOX_MAX_ATTEMPTS?: number;
  OUTBOX_DELIVERY_TIMEOUT_MS?: number;
  OUTBOX_LEASE_MS?: number;
  OUTBOX_SHUTDOWN_TIMEOUT_MS?: number;
  OUTBOX_RETENTION_HOURS?: number;
}

/**
 * Adds the validated OUTBOX_* variables to an app's config class, so the app reads its environment once and
 * hands the result to OutboxModule.forRoot({ config }):
 * `export class CoreConfig extends withOutboxConfig(BaseServiceConfig) { … }`.
 * Unset fields stay undefined and take the library's defaults.
 */
export function withOutboxConfig<TBase extends Constructor>(Base: TBase): TBase & Constructor<OutboxConfigFields> {
  class WithOutboxConfig extends Base implements OutboxConfigFields {}
  const prototype = WithOutboxConfig.prototype;
  // Applied as calls rather than written as property decorators: one list drives validation and defaults.
  IsOptional()(prototype, 'OUTBOX_RELAY_ENABLED');
  Transform(parseBooleanValue)(prototype, 'OUTBOX_RELAY_ENABLED');
  IsBoolean({ message: 'OUTBOX_RELAY_ENABLED must be true or false' })(prototype, 'OUTBOX_RELAY_ENABLED');
  for (const field of Object.values(OUTBOX_NUMERIC_FIELDS) as OutboxField[]) {
    IsOptional()(prototype, field.env);
    Type(() => Number)(prototype, field.env);
    IsInt({ message: `${field.env} must be an integer` })(prototype, field.env);
    Min(field.min, { message: `${field.env} must be at least ${field.min}` })(prototype, field.env);
  }
  return WithOutboxConfig;
}

function parseBooleanValue({ value }: { value: unknown }): unknown {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
}
