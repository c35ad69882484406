import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { BaseServiceConfig, Secret } from '@pancha/service-kit';

const HTTP_URL = /^https?:\/\/[^\s]+$/;

/**
 * PRANA's settings: where the OIDC provider is, how sessions behave, where the console's files and the
 * services are. PRANA keeps no database of its own (sessions in Redis or memory).
 */
export class PranaConfig extends BaseServiceConfig {
  /** Not used by PRANA (no database); present in the base class for the other services. */
  @Secret() @IsOptional() @IsString()
  declare DATABASE_URL: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(65535)
  PRANA_PORT?: number;

  /** The browser-facing origin (redirect URI base), e.g. https://prana.example.org. Default http://127.0.0.1:<port>. */
  @IsOptional() @Matches(HTTP_URL, { message: 'PRANA_PUBLIC_URL must be an http(s) URL' })
  PRANA_PUBLIC_URL?: string;

  /** The console build (index.html and assets). Default dist/apps/prana/web beside the code. */
  @IsOptional() @IsString()
  PRANA_WEB_DIR?: string;

  /** `vite`: serve the console from apps/prana/web through Vite in middleware mode (nx serve prana). */
  @IsOptional() @IsIn(['static', 'vite'])
  PRANA_WEB_MODE = 'static';

  /**
   * Where PRANA itself reaches the provider when that differs from OIDC_ISSUER (a container network: the
   * browser uses http://localhost:4300, PRANA http://dev-idp:4300). Only the server-side calls go there.
   */
  @IsOptional() @Matches(HTTP_URL)
  OIDC_INTERNAL_URL?: string;

  /** PRANA's client at the provider (OIDC_ISSUER, from the base settings, is required for PRANA). */
  @IsString()
  OIDC_CLIENT_ID: string;

  @Secret() @IsOptional() @IsString()
  OIDC_CLIENT_SECRET?: string;

  /** The audience of the access tokens Core and the executor accept. */
  @IsOptional() @IsString()
  override OIDC_AUDIENCE = 'urn:pancha:api';

  /**
   * Sent as the RFC 8707 `resource` of the sign-in when set (providers that issue JWT access tokens per API,
   * like the embedded one); leave unset for providers that choose the audience themselves (Keycloak, Entra).
   */
  @IsOptional() @IsString()
  OIDC_RESOURCE?: string;

  @IsOptional() @IsString()
  OIDC_SCOPES = 'openid profile roles offline_access';

  /** Signs the session cookie and the CSRF tokens; rotate by prepending a new one (comma-separated). */
  @Secret() @IsOptional() @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.split(',').map((v) => v.trim()).filter(Boolean) : value))
  @IsString({ each: true })
  SESSION_SECRET?: string[];

  /** A session unused for this long is over. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(60) @Max(7 * 86_400)
  SESSION_IDLE_SECONDS = 1800;

  /** A session is over this long after sign-in, however busy. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(60) @Max(30 * 86_400)
  SESSION_ABSOLUTE_SECONDS = 8 * 3600;

  @IsOptional() @IsString()
  SESSION_REDIS_PREFIX = 'prana:sess:';

  @IsOptional() @Matches(HTTP_URL)
  KARMA_URL = 'http://127.0.0.1:8000';

  @IsOptional() @Matches(HTTP_URL)
  BUCKET_URL = 'http://127.0.0.1:8001';

  @IsOptional() @Matches(HTTP_URL)
  CORE_URL = 'http://127.0.0.1:8002';

  @IsOptional() @Matches(HTTP_URL)
  WORKFLOW_EXECUTOR_URL = 'http://127.0.0.1:8003';

  /** Upstream call timeout. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(120_000)
  PRANA_UPSTREAM_TIMEOUT_MS = 10_000;

  /** Live stream (GET /api/stream): how often the one shared watch asks Core for changed runs while anyone listens. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(60_000)
  PRANA_STREAM_POLL_MS = 1_000;

  /** Live stream: a comment line this often keeps proxies and the browser from closing an idle stream. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(120_000)
  PRANA_STREAM_HEARTBEAT_MS = 15_000;

  /** Live stream: open streams per session at most (tabs); one more is a 429. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100)
  PRANA_STREAM_MAX_PER_SESSION = 8;

  /** Live stream: a stream ends after this long and the browser reconnects, so a signed-out session stops receiving. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1_000) @Max(3_600_000)
  PRANA_STREAM_MAX_AGE_MS = 300_000;
}
