import { Global, type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { Logger as NestPinoLogger, LoggerModule } from 'nestjs-pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import pino, { type Logger, type LoggerOptions } from 'pino';

const QUIET_PATHS = /^\/(health|healthz|readyz|metrics)\b/;

/**
 * The level of a request's completion line. A 304 answers a conditional poll with "nothing changed" (Core revalidates
 * the executor's workflow catalog every second), so it is debug: at the default level it would be one line a second
 * that says nothing.
 */
export function requestLogLevel(_req: IncomingMessage, res: ServerResponse, err?: Error): 'error' | 'warn' | 'info' | 'debug' {
  if (err || res.statusCode >= 500) return 'error';
  if (res.statusCode >= 400) return 'warn';
  return res.statusCode === 304 ? 'debug' : 'info';
}

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
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode?: number }) => ({ status_code: res.statusCode }),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * One line per finished request (`request completed`, `request aborted`, or `request errored` with the error), at
 * requestLogLevel's level, with method, url, status and responseTime in ms; none for probes and scrapes.
 *
 * In place of pino-http, which builds a child logger for every request (its bindings serialised up front) and
 * writes the line through it even where the level drops it: at the bench's level (warn) that was about 3 % of
 * Core's CPU for nothing. Here a request costs its listeners, and a line is built only when the level keeps it.
 * Lines written while a request runs come from the service's logger as they are: its trace_id and span_id say
 * which request they belong to.
 */
export function requestLog(logger: Logger): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return function requestLogMiddleware(req, res, next) {
    if (!QUIET_PATHS.test(req.url ?? '')) {
      const started = Date.now();
      const done = (err?: Error): void => {
        res.removeListener('finish', done);
        res.removeListener('close', done);
        res.removeListener('error', done);
        const level = requestLogLevel(req, res, err);
        if (!logger.isLevelEnabled(level)) return;
        const fields = { req, res, responseTime: Date.now() - started };
        if (level === 'error') {
          logger.error({ ...fields, err: err ?? new Error(`failed with status code ${res.statusCode}`) }, 'request errored');
        } else {
          logger[level](fields, !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted');
        }
      };
      res.on('finish', done);
      res.on('close', done);
      res.on('error', done);
    }
    next();
  };
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
      // useExisting with no routes: nestjs-pino adds no middleware of its own (it would run pino-http, or bind a
      // per-request logger in an AsyncLocalStorage), and logs everything through `logger`.
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
export function useServiceLogging(app: INestApplication): void {
  let logger: Logger;
  try {
    logger = app.get<Logger>(SERVICE_LOGGER, { strict: false });
  } catch {
    return;
  }
  app.useLogger(app.get(NestPinoLogger));
  app.use(requestLog(logger));
}
