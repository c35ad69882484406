import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { MAX_BODY_BYTES } from '@pancha/contracts';
import { Logger } from 'nestjs-pino';
import type { BaseServiceConfig } from './config/env.validation';
import { ApiExceptionFilter } from './errors/api-exception.filter';
import { httpMetricsMiddleware } from './health/metrics';
import { StorableJsonInterceptor } from './validation/storable-json.interceptor';
import { createValidationPipe } from './validation/validation.pipe';

/** Pipes, filters, body limit and metrics: applied identically by main.ts and by tests that build the app. */
export function configureApp(app: INestApplication): INestApplication {
  const express = app as NestExpressApplication;
  try {
    express.useLogger(express.get(Logger));
  } catch {
    // A test module without LoggerModule keeps Nest's default logger.
  }
  express.use(httpMetricsMiddleware);
  express.useBodyParser('json', { limit: MAX_BODY_BYTES });
  express.useBodyParser('urlencoded', { limit: MAX_BODY_BYTES, extended: false });
  // Runs before the pipe: input nested too deep or holding text PostgreSQL cannot store is a 422, never a 5xx.
  express.useGlobalInterceptors(new StorableJsonInterceptor());
  express.useGlobalPipes(createValidationPipe());
  express.useGlobalFilters(new ApiExceptionFilter());
  express.enableShutdownHooks();
  return app;
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
