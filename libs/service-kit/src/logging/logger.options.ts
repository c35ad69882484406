import type { Params } from 'nestjs-pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';

const QUIET_PATHS = /^\/(health|healthz|readyz|metrics)\b/;

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
    customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) =>
      err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode?: number }) => ({ status_code: res.statusCode }),
    },
  };
  return { pinoHttp: destination ? [options, destination] : options };
}
