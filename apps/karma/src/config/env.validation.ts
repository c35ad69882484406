import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { BaseServiceConfig } from '@pancha/service-kit';
import { IsOptional, IsString } from 'class-validator';

/** Karma's environment (see .env.example). The behavioural model itself lives in karma.config.yaml. */
export class KarmaConfig extends BaseServiceConfig {
  /** Another model file instead of the karma.config.yaml shipped beside the code. */
  @IsOptional() @IsString()
  KARMA_CONFIG_FILE?: string;

  /** JetStream transport (libs/nats-transport): when set, Karma also consumes its events from NATS. */
  @IsOptional() @IsNatsUrl()
  NATS_URL?: string;

  @IsOptional() @IsNatsStreamName()
  NATS_STREAM = DEFAULT_NATS_STREAM;
}
