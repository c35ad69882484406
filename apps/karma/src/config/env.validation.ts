import { DEFAULT_NATS_STREAM, IsNatsStreamName, IsNatsUrl } from '@pancha/nats-transport';
import { withOutboxConfig } from '@pancha/outbox';
import { BaseServiceConfig, parseBoolean } from '@pancha/service-kit';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, IsString, IsUrl } from 'class-validator';

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
}
