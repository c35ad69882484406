import type { Params } from 'nestjs-pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';

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
 * inside a span; credentials are redacted, and a config object prints its secrets as `[redacted]`.
 */
export function loggerOptions(service: string, level: string, destination?: Writable): Params {
  const options = {
    level,
    base: { service },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.test(req.url ?? '') },
    customLogLevel: requestLogLevel,
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode?: number }) => ({ status_code: res.statusCode }),
    },
  };
  return { pinoHttp: destination ? [options, destination] : options };
}
