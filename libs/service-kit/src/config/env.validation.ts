import { plainToInstance, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, Min, validateSync } from 'class-validator';
import type { ClassConstructor } from 'class-transformer';
import { flattenValidationErrors } from '../validation/validation.pipe';

/** Variables every service reads. Apps extend this class with their own and validate once at start. */
export class BaseServiceConfig {
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(65535)
  PORT?: number;

  @IsOptional() @IsString()
  HOST = '0.0.0.0';

  @IsOptional() @IsString()
  APP_ENV = 'development';

  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /** The role the service serves with; with DATABASE_MIGRATION_URL a runtime role that owns nothing. */
  @IsString()
  DATABASE_URL: string;

  /**
   * The database owner's URL: migrations run with it at start, then the service serves with DATABASE_URL's
   * runtime role (which must differ, own nothing and not be a superuser). Unset: DATABASE_URL does both.
   */
  @IsOptional() @IsString()
  DATABASE_MIGRATION_URL?: string;
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

/** Reads and validates the environment once; a bad value stops the service with a message naming the variable. */
export function validateEnv<T extends object>(cls: ClassConstructor<T>, env: NodeJS.ProcessEnv = process.env): T {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const config = plainToInstance(cls, present, { exposeDefaultValues: true });
  const errors = validateSync(config, { skipMissingProperties: false, whitelist: false });
  if (errors.length) {
    const lines = flattenValidationErrors(errors).map((e) => `  ${e.field}: ${e.messages.join('; ')}`);
    throw new Error(`Invalid configuration (see .env.example):\n${lines.join('\n')}`);
  }
  return config;
}
