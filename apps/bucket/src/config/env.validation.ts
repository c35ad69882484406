import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { BaseServiceConfig } from '@pancha/service-kit';

/** Bucket's environment (keys and policy are read by governance: PANCHA_KEYS_DIR, PANCHA_POLICY_FILE). */
export class BucketConfig extends BaseServiceConfig {
  /** Rows per query while GET /audit/verify walks the chain; bounds its memory, not its length. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000)
  BUCKET_VERIFY_BATCH_SIZE = 1000;

  /** JetStream transport (libs/nats-transport): when set, Bucket also consumes its events from NATS. */
  @IsOptional() @IsNatsUrl()
  NATS_URL?: string;

  @IsOptional() @IsNatsStreamName()
  NATS_STREAM = DEFAULT_NATS_STREAM;
}
