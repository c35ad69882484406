import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { MAX_BODY_BYTES } from '@pancha/contracts';
import type { Server } from 'node:http';
import { BaseServiceConfig } from './config/env.validation';
import { applyHttpTimeouts } from './edge/http-timeouts';
import { jsonOnly } from './edge/json-only.middleware';
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
  configureApp(app);
  if (options.microservices) {
    options.microservices(app);
    await app.startAllMicroservices();
  }
  await app.listen(options.config.PORT ?? options.defaultPort, options.config.HOST);
  return app;
}
