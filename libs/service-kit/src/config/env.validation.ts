import { applyDecorators } from '@nestjs/common';
import { plainToInstance, Transform, Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  Validate,
  ValidatorConstraint,
  validateSync,
  type ValidationArguments,
  type ValidatorConstraintInterface,
} from 'class-validator';
import type { ClassConstructor } from 'class-transformer';
import { flattenValidationErrors } from '../validation/validation.pipe';
import { RedactedConfig, redactSecretValues, Secret } from './secret';

@ValidatorConstraint({ name: 'notAbove' })
class NotAboveConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    const other = (args.object as Record<string, unknown>)[args.constraints[0] as string];
    return typeof value !== 'number' || typeof other !== 'number' || value <= other;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must not exceed ${String(args.constraints[0])}`;
  }
}

/** `a, b ,c` → ['a','b','c']; empty entries dropped. */
function commaList({ value }: { value: unknown }): unknown {
  return typeof value === 'string' ? value.split(',').map((v) => v.trim()).filter((v) => v !== '') : value;
}

const ORIGIN = /^https?:\/\/[^/\s,*]+$/;

/** An optional whole number of milliseconds within [min, max]. */
function Milliseconds(min: number, max: number): PropertyDecorator {
  return applyDecorators(
    IsOptional(),
    Type(() => Number),
    IsInt({ message: '$property must be an integer number of milliseconds' }),
    Min(min),
    Max(max),
  );
}

/**
 * Variables every service reads. Apps extend this class with their own and validate once at start; the
 * libraries take this object (never process.env). Secrets are marked @Secret(): printing the config shows
 * them as `[redacted]`.
 */
export class BaseServiceConfig extends RedactedConfig {
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(65535)
  PORT?: number;

  @IsOptional() @IsString()
  HOST = '0.0.0.0';

  @IsOptional() @IsString()
  APP_ENV = 'development';

  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /** The role the service serves with; with DATABASE_MIGRATION_URL a runtime role that owns nothing. */
  @Secret() @IsString()
  DATABASE_URL: string;

  /**
   * The database owner's URL: migrations run with it at start, then the service serves with DATABASE_URL's
   * runtime role (which must differ, own nothing and not be a superuser). Unset: DATABASE_URL does both.
   */
  @Secret() @IsOptional() @IsString()
  DATABASE_MIGRATION_URL?: string;

  // ---- service identity (libs/governance) ------------------------------------------------------------

  /** Directory with `<requester_id>.key.pem` / `.pub.pem` for every service (npm start: .data/keys). */
  @IsOptional() @IsString()
  PANCHA_KEYS_DIR?: string;

  /** This service's Ed25519 private key as PEM text (production). */
  @Secret() @IsOptional() @IsString()
  SERVICE_PRIVATE_KEY?: string;

  @IsOptional() @IsString()
  SERVICE_PRIVATE_KEY_FILE?: string;

  /** JSON `{ "<requester_id>": "<PEM>" }`: public keys, not secret. */
  @IsOptional() @IsString()
  PEER_PUBLIC_KEYS?: string;

  @IsOptional() @IsString()
  PEER_PUBLIC_KEYS_DIR?: string;

  @IsOptional() @IsString()
  PANCHA_POLICY_FILE?: string;

  // ---- people's tokens (OIDC access tokens; Core and the executor act for the person) --------------

  /** The OIDC provider people sign in with (its `iss`); unset: people's tokens are refused (401). */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'OIDC_ISSUER must be the provider URL, e.g. https://idp.example.org/realms/pancha' })
  OIDC_ISSUER?: string;

  /** The audience people's access tokens must carry. */
  @IsOptional() @IsString()
  OIDC_AUDIENCE?: string;

  /** The claim with the person's roles (dotted for nested claims, e.g. realm_access.roles). */
  @IsOptional() @IsString()
  OIDC_ROLES_CLAIM = 'roles';

  /** The provider's JWKS URL when it differs from the one its discovery document names. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/)
  OIDC_JWKS_URI?: string;

    // ---- the HTTP edge ---------------------------------------------------------------------------------

  /**
   * Browser origins allowed to call this service cross-site (CORS), comma-separated exact origins such as
   * `https://app.example.org`. Unset: none, no CORS headers at all.
   */
  @IsOptional() @Transform(commaList)
  @Matches(ORIGIN, { each: true, message: 'CORS_ORIGINS must be a comma-separated list of origins like https://app.example.org (no path, no *)' })
  CORS_ORIGINS: string[] = [];

  /**
   * Express `trust proxy`: which hops' X-Forwarded-For to believe when telling clients apart for rate
   * limits. Unset/false: the socket address (direct exposure). Behind an ingress: its hop count (`1`) or its
   * addresses/subnets (`loopback, 10.0.0.0/8`). `true` trusts any client's header: never when exposed.
   */
  @IsOptional() @IsString()
  TRUST_PROXY = 'false';

  /** The whole request (headers and body) must arrive within this, else the socket is closed (slow bodies). */
  @Milliseconds(1000, 600_000)
  HTTP_REQUEST_TIMEOUT_MS = 30_000;

  /** The request headers must arrive within this (slow-loris headers). */
  @Milliseconds(1000, 600_000)
  @Validate(NotAboveConstraint, ['HTTP_REQUEST_TIMEOUT_MS'])
  HTTP_HEADERS_TIMEOUT_MS = 10_000;

  /** An idle keep-alive connection is closed after this (the response advertises it to clients). */
  @Milliseconds(100, 600_000)
  HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;

  // ---- rate limits (anonymous traffic and failed authentications, per client address) ----------------

  /** Shared counters for every replica (ioredis URL, may carry a password). Unset: counted per process. */
  @Secret() @IsOptional() @Matches(/^rediss?:\/\//, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @IsOptional() @IsString()
  RATE_LIMIT_KEY_PREFIX = 'pancha:rl:';

  /** Requests without a credential per client per window; over it: 429 until the window ends. 0 = no limit. */
  @IsOptional() @Type(() => Number) @IsInt({ message: 'RATE_LIMIT_ANONYMOUS_LIMIT must be an integer (0 = no limit)' }) @Min(0)
  RATE_LIMIT_ANONYMOUS_LIMIT = 1000;

  @Milliseconds(100, 86_400_000)
  RATE_LIMIT_ANONYMOUS_WINDOW_MS = 10_000;

  /** Failed authentications (401) per client per window; over it: 429 for RATE_LIMIT_AUTH_FAILURE_BLOCK_MS. 0 = no limit. */
  @IsOptional() @Type(() => Number) @IsInt({ message: 'RATE_LIMIT_AUTH_FAILURE_LIMIT must be an integer (0 = no limit)' }) @Min(0)
  RATE_LIMIT_AUTH_FAILURE_LIMIT = 100;

  @Milliseconds(100, 86_400_000)
  RATE_LIMIT_AUTH_FAILURE_WINDOW_MS = 60_000;

  @Milliseconds(100, 86_400_000)
  RATE_LIMIT_AUTH_FAILURE_BLOCK_MS = 60_000;
}

/** `'true'/'1'/'yes'` → true, `'false'/'0'/'no'` → false; anything else is left for validation to reject. */
export function parseBoolean({ value }: { value: unknown }): unknown {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
}

/**
 * Reads and validates the environment once; a bad value stops the service with a message naming the
 * variable (never quoting a secret's value).
 */
export function validateEnv<T extends object>(cls: ClassConstructor<T>, env: NodeJS.ProcessEnv = process.env): T {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const config = plainToInstance(cls, present, { exposeDefaultValues: true });
  const errors = validateSync(config, { skipMissingProperties: false, whitelist: false });
  if (errors.length) {
    const lines = flattenValidationErrors(errors).map((e) => `  ${e.field}: ${e.messages.join('; ')}`);
    throw new Error(redactSecretValues(`Invalid configuration (see .env.example):\n${lines.join('\n')}`, config, present));
  }
  return config;
}
