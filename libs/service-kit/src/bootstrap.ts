import { Logger, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { MAX_BODY_BYTES } from '@pancha/contracts';
import type { Server } from 'node:http';
import { BaseServiceConfig } from './config/env.validation';
import { applyHttpTimeouts } from './edge/http-timeouts';
import { jsonOnly, jsonScalarBody } from './edge/json-only.middleware';
import { ApiExceptionFilter } from './errors/api-exception.filter';
import { httpMetricsMiddleware } from './health/metrics';
import { useServiceLogging } from './logging/service-logging.module';
import { StorableJsonGuard } from './validation/storable-json.guard';
import { createValidationPipe } from './validation/validation.pipe';

/** Request headers a browser on an allowed origin may send (CORS preflight). */
const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'idempotency-key', 'traceparent', 'tracestate'];

/** `false`, `true`, a hop count, or a list of addresses/subnets, as Express's `trust proxy` takes them. */
export function trustProxySetting(value: string): boolean | number | string {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  return value;
}

/**
 * Pipes, filters, body limit, metrics and the HTTP edge (JSON only, CORS allow-list, no X-Powered-By,
 * trust proxy, request/header/keep-alive timeouts): applied identically by main.ts and by tests that build
 * the app. The edge settings come from the app's validated config (provided by ServiceKitModule); an app
 * without it gets the defaults.
 */
export function configureApp(app: INestApplication): INestApplication {
  const express = app as NestExpressApplication;
  useServiceLogging(app);
  const config = configOf(app);
  express.disable('x-powered-by');
  express.set('trust proxy', trustProxySetting(config.TRUST_PROXY));
  applyHttpTimeouts(express.getHttpServer() as Server, {
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
  });
  express.use(httpMetricsMiddleware);
  if (config.CORS_ORIGINS.length > 0) {
    express.enableCors({ origin: config.CORS_ORIGINS, allowedHeaders: CORS_ALLOWED_HEADERS, maxAge: 600 });
  }
  express.use(jsonOnly);
  express.useBodyParser('json', { limit: MAX_BODY_BYTES, type: ['application/json', 'application/*+json'] });
  express.use(jsonScalarBody);
  // After the APP_GUARDs (the caller is known), before the pipe: input nested too deep or holding text
  // PostgreSQL cannot store is a 422, never a 5xx.
  express.useGlobalGuards(new StorableJsonGuard());
  express.useGlobalPipes(createValidationPipe());
  express.useGlobalFilters(new ApiExceptionFilter());
  express.enableShutdownHooks();
  return app;
}

function configOf(app: INestApplication): BaseServiceConfig {
  try {
    return app.get(BaseServiceConfig, { strict: false });
  } catch {
    // An app built without ServiceKitModule (a library's own test): the documented defaults.
    return Object.assign(new BaseServiceConfig(), { DATABASE_URL: '' });
  }
}

/** Longest wait for the close after a failed start before the failure is reported anyway. */
const FAILED_START_CLOSE_TIMEOUT_MS = 10_000;

export interface StartServiceOptions {
  port: number;
  host: string;
  /** Attaches message transports (e.g. @pancha/nats-transport's connectJetStream); they start before HTTP listens. */
  microservices?: (app: INestApplication) => unknown;
  /** Longest wait for the app to close after a failed start (default 10 s). */
  closeTimeoutMs?: number;
}

/**
 * Starts an app built from a service's root module: configureApp, its message transports, then HTTP. A start that
 * fails (a module's init or bootstrap hook, a transport, the port taken) closes the app first, so the clients its
 * modules opened (the rate limit's Redis, the database pool, NATS) do not keep the process alive, and then rejects
 * with that failure: an error of the close is only logged, it never hides why the service did not start, and a close
 * that does not finish within closeTimeoutMs is given up on (main.ts exits on the failure; a close that hangs must
 * not keep it from hearing of it).
 */
export async function startService(app: INestApplication, options: StartServiceOptions): Promise<INestApplication> {
  try {
    configureApp(app);
    if (options.microservices) {
      options.microservices(app);
      await app.startAllMicroservices();
    }
    await app.listen(options.port, options.host);
    return app;
  } catch (error) {
    await closeAfterFailedStart(app, options.closeTimeoutMs ?? FAILED_START_CLOSE_TIMEOUT_MS);
    throw error;
  }
}

async function closeAfterFailedStart(app: INestApplication, timeoutMs: number): Promise<void> {
  const logger = new Logger('bootstrap');
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([app.close().then(() => 'closed' as const), gaveUp]);
    if (outcome === 'timeout') logger.error(`closing after a failed start did not finish within ${timeoutMs} ms; giving up on it`);
  } catch (closeError) {
    logger.error(`closing after a failed start failed too: ${(closeError as Error)?.message ?? String(closeError)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** main.ts's start: the app from `module`, started by startService on PORT (else `defaultPort`) and HOST. */
export async function bootstrapService(
  module: Type<unknown> | DynamicModule,
  options: {
    defaultPort: number;
    config: BaseServiceConfig;
    /** Attaches message transports (e.g. @pancha/nats-transport's connectJetStream); they start before HTTP listens. */
    microservices?: (app: INestApplication) => unknown;
  },
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, { bufferLogs: true, bodyParser: false });
  return startService(app, { port: options.config.PORT ?? options.defaultPort, host: options.config.HOST, microservices: options.microservices });
}

/**
 * main.ts's answer to a start that failed, for every service: what Nest logged until then, the failure (with its
 * stack), exit 1. The app is created with `bufferLogs` (its first lines go through the service's own logger), and Nest
 * prints that buffer only once HTTP listens: a start that failed before (the port taken, a module's start hook
 * throwing) logged into the buffer, so a main that logged and exited printed nothing at all, and the launcher showed
 * an empty log tail. The buffer is flushed first, then the failure goes out unbuffered.
 */
export function exitOnFailedStart(service: string): (error: unknown) => never {
  return (error: unknown) => {
    Logger.flush();
    const stack = error instanceof Error ? error.stack : undefined;
    new Logger(service).error(`failed to start: ${(error as Error)?.message ?? String(error)}`, stack);
    process.exit(1);
  };
}
