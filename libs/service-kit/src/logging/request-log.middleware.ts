import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

const QUIET_PATHS = /^\/(health|healthz|readyz|metrics)\b/;

/**
 * The level of a request's completion line. A 304 answers a conditional poll with "nothing changed" (Core revalidates
 * the executor's workflow catalog every second), so it is debug: at the default level it would be one line a second
 * that says nothing.
 */
export function requestLogLevel(res: ServerResponse, err?: Error): 'error' | 'warn' | 'info' | 'debug' {
  if (err || res.statusCode >= 500) return 'error';
  if (res.statusCode >= 400) return 'warn';
  return res.statusCode === 304 ? 'debug' : 'info';
}

export interface RequestLogOptions {
  /** Requests whose completion line is debug where it would be info (PRANA: its console's pages and assets). */
  quieter?: (req: IncomingMessage) => boolean;
}

/**
 * One line per finished request (`request completed`, `request aborted`, or `request errored` with the error), at
 * requestLogLevel's level, with method, url, status and responseTime in ms; none for probes and scrapes.
 *
 * In place of pino-http, which builds a child logger for every request (its bindings serialised up front) and
 * writes the line through it even where the level drops it. Here a request costs its listeners, and a line is built
 * only when the level keeps it (Core's CPU per task 1.29–1.33 → 1.16 ms in three pairs at the bench's level, warn).
 * Lines Nest's `Logger` writes while a request runs carry its trace_id and span_id, but no `req` of their own.
 */
export function requestLog(logger: Logger, options: RequestLogOptions = {}): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return function requestLogMiddleware(req, res, next) {
    if (!QUIET_PATHS.test(req.url ?? '')) {
      const started = Date.now();
      const done = (err?: Error): void => {
        res.removeListener('finish', done);
        res.removeListener('close', done);
        res.removeListener('error', done);
        let level = requestLogLevel(res, err);
        if (level === 'info' && options.quieter?.(req)) level = 'debug';
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
