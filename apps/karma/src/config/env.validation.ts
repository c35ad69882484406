import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { withOutboxConfig } from '@pancha/outbox';
import { BaseServiceConfig, parseBoolean } from '@pancha/service-kit';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, IsUrl, Max, Min } from 'class-validator';

/** Karma's environment (see .env.example). The behavioural model itself lives in karma.config.yaml. */
export class KarmaConfig extends withOutboxConfig(BaseServiceConfig) {
  /** Another model file instead of the karma.config.yaml shipped beside the code. */
  @IsOptional() @IsString()
  KARMA_CONFIG_FILE?: string;

  /** JetStream transport (libs/nats-transport): when set, Karma also consumes its events from NATS. */
  @IsOptional() @IsNatsUrl()
  NATS_URL?: string;

  @IsOptional() @IsNatsStreamName()
  NATS_STREAM = DEFAULT_NATS_STREAM;

  /** Core, for the `karma.role_changed` events published to its router (docs/events.md). */
  @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  CORE_URL = 'http://127.0.0.1:8002';

  /** Publish `karma.role_changed` to Core's event router when an event changes a user's role. */
  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  KARMA_ROUTER_EVENTS_ENABLED = true;

  /**
   * How often Karma's role sweep publishes the role changes time made (grants and penalties expiring, decay) for the
   * users due, instead of waiting for their next event (ms; 0 = off: such a change waits for the user's next event).
   * Off while router events are. At most a day.
   */
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(86_400_000)
  KARMA_ROLE_SWEEP_INTERVAL_MS = 60_000;

  /**
   * Users per role-sweep batch: claimed, their ledgers read and folded with no lock held, then settled in one short
   * transaction; a round runs batches until none is due.
   */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000)
  KARMA_ROLE_SWEEP_BATCH_SIZE = 100;
}
