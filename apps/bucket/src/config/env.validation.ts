import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsUrl, Max, Min } from 'class-validator';
import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { withOutboxConfig } from '@pancha/outbox';
import { BaseServiceConfig, parseBoolean } from '@pancha/service-kit';

/** Bucket's environment (keys and policy are read by governance: PANCHA_KEYS_DIR, PANCHA_POLICY_FILE). */
export class BucketConfig extends withOutboxConfig(BaseServiceConfig) {
  /** Rows per query while GET /audit/verify walks the chain; bounds its memory, not its length. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000)
  BUCKET_VERIFY_BATCH_SIZE = 1000;

  /**
   * How often Bucket verifies its own chain (incremental; one replica at a time), publishing `audit.verify_failed`
   * on a fault without anyone calling GET /audit/verify. 0 turns the schedule off. At most a day.
   */
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(86_400_000)
  BUCKET_VERIFY_INTERVAL_MS = 300_000;

  /** JetStream transport (libs/nats-transport): when set, Bucket also consumes its events from NATS. */
  @IsOptional() @IsNatsUrl()
  NATS_URL?: string;

  @IsOptional() @IsNatsStreamName()
  NATS_STREAM = DEFAULT_NATS_STREAM;

  /** Core, for the `audit.verify_failed` events published to its router (docs/events.md). */
  @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  CORE_URL = 'http://127.0.0.1:8002';

  /** Publish `audit.verify_failed` to Core's event router when a verification finds a bad entry. */
  @IsOptional() @Transform(parseBoolean) @IsBoolean()
  BUCKET_ROUTER_EVENTS_ENABLED = true;
}
