import { Global, type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { Logger as NestPinoLogger, LoggerModule } from 'nestjs-pino';
import type { Writable } from 'node:stream';
import pino, { type Logger, type LoggerOptions } from 'pino';
import { requestLog, type RequestLogOptions } from './request-log.middleware';

/**
 * JSON lines on stdout (or `destination`: tests read what a service logs). OpenTelemetry's pino
 * instrumentation (started by trace-context's register) adds trace_id and span_id to every line written
 * inside a span, the completion lines included; credentials are redacted, and a config object prints its
 * secrets as `[redacted]`.
 */
export function serviceLogger(service: string, level: string, destination?: Writable): Logger {
  const options: LoggerOptions = {
    level,
    base: { service },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    serializers: {
      // originalUrl: the url as it arrived, whatever a middleware rewrote since.
      req: (req: { method?: string; url?: string; originalUrl?: string }) => ({ method: req.method, url: req.originalUrl ?? req.url }),
      res: (res: { statusCode?: number }) => ({ status_code: res.statusCode }),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');

/** A service's logging: its pino logger, and nestjs-pino's Logger (what `app.useLogger` takes) writing through it. */
@Global()
@Module({})
export class ServiceLoggingModule {
  static forRoot(service: string, level: string, destination?: Writable): DynamicModule {
    const logger = serviceLogger(service, level, destination);
    return {
      module: ServiceLoggingModule,
      // useExisting with no routes: nestjs-pino runs no middleware at all. Its other one binds a request's logger in an
      // AsyncLocalStorage (which, once used, is carried through every promise after it); with it the stack used 2-7 %
      // more CPU per task in five alternating pairs, to tell apart the apps of one process, which only tests have. So
      // Nest's Logger writes through nestjs-pino's one logger per process, the first app's: in a service, its own.
      imports: [LoggerModule.forRoot({ pinoHttp: { logger }, useExisting: true, forRoutes: [] })],
      providers: [{ provide: SERVICE_LOGGER, useValue: logger }],
      exports: [SERVICE_LOGGER],
    };
  }
}

/**
 * Nest logs through the service's logger, and requestLog runs first on every request: mounted on the app before the
 * edge's own middleware, so a request the edge refuses (415, a body that is not JSON, too large) has its line too,
 * and responseTime covers reading the body (as a Nest module middleware it ran after them, and those requests had no
 * line). Both bootstraps (configureApp, PRANA's) call this. An app built without ServiceLoggingModule (a library's
 * own test) keeps Nest's logger.
 */
export function useServiceLogging(app: INestApplication, options: RequestLogOptions = {}): void {
  let logger: Logger;
  try {
    logger = app.get<Logger>(SERVICE_LOGGER, { strict: false });
  } catch {
    return;
  }
  app.useLogger(app.get(NestPinoLogger));
  app.use(requestLog(logger, options));
}
