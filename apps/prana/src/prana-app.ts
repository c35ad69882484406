import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { MAX_BODY_BYTES } from '@pancha/contracts';
import type { KeyStore } from '@pancha/governance';
import { currentTraceId } from '@pancha/trace-context';
import { applyHttpTimeouts, httpMetricsMiddleware, trustProxySetting, useServiceLogging } from '@pancha/service-kit';
import type { Request, RequestHandler } from 'express';
import { Redis } from 'ioredis';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { AppModule, CloseHooks } from './app.module';
import { sessionParts } from './auth/session.middleware';
import { Clock } from './clock';
import type { PranaConfig } from './config/env.validation';
import { PranaExceptionFilter } from './prana.exception';
import { defaultWebDir, staticConsole, viteConsole } from './web/web-console';

export interface PranaAppOptions {
  clock?: Clock;
  keyStore?: KeyStore;
  logDestination?: Writable;
  /** Repository root, for Vite mode (apps/prana/web). Default: the working directory. */
  rootDir?: string;
}

/**
 * The BFF, configured but not listening: main.ts listens, tests listen on a free port. Order matters:
 * sessions and CSRF run before any route; the console's files come last so that /api and /auth win.
 */
export async function createPranaApp(config: PranaConfig, options: PranaAppOptions = {}): Promise<INestApplication> {
  const clock = options.clock ?? new Clock();
  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 2 }) : undefined;
  const parts = sessionParts(config, clock, redis);
  // Run by Nest's app.close() (and on SIGTERM). Not an override of app.close: Nest returns the app behind a
  // Proxy whose `set` trap drops assignments, so an overridden close never ran and Redis stayed connected.
  const closeHooks = new CloseHooks();
  if (redis) closeHooks.add(() => redis.disconnect());
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.forRoot({ config, clock, csrf: parts, keyStore: options.keyStore, logDestination: options.logDestination, closeHooks }),
    { bufferLogs: true, bodyParser: false },
  );
  // The console's pages and assets (anything outside /api and /auth) log at debug: a page load is dozens of them.
  useServiceLogging(app, { quieter: (req) => !/^\/(api|auth)(\/|\?|$)/i.test(req.url ?? '') });
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxySetting(config.TRUST_PROXY));
  applyHttpTimeouts(app.getHttpServer() as Server, {
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
  });
  app.use(httpMetricsMiddleware);
  app.use(onlyUnder('/api', jsonBodiesOnly));
  app.useBodyParser('json', { limit: MAX_BODY_BYTES, type: ['application/json', 'application/*+json'] });
  for (const handler of parts.middleware) app.use(handler);

  let vite: Awaited<ReturnType<typeof viteConsole>>;
  if (config.PRANA_WEB_MODE === 'vite') {
    vite = await viteConsole(options.rootDir ?? process.cwd());
    if (vite) {
      for (const handler of vite.handlers) app.use(handler);
      closeHooks.add(vite.close);
    }
  }
  if (!vite) for (const handler of staticConsole(path.resolve(config.PRANA_WEB_DIR ?? defaultWebDir()))) app.use(handler);

  app.useGlobalFilters(new PranaExceptionFilter());
  app.enableShutdownHooks();
  return app;
}

/** `prefix` and everything below it, in any case: Express routes `/API/core/…` to the same handlers as `/api/core/…`. */
function onlyUnder(prefix: string, handler: RequestHandler): RequestHandler {
  const under = new RegExp(`^${prefix}(/|$)`, 'i');
  return (req: Request, res, next) => (under.test(req.path) ? handler(req, res, next) : next());
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/**
 * The services' JSON-only rule (service-kit's jsonOnly) in PRANA's error shape: a request with a body in any
 * other media type is a 415 `{ error: 'unsupported_media_type', message }` before any parser runs. An HTML form
 * can only send urlencoded, multipart or text bodies, so this also closes cross-site form posts.
 */
const jsonBodiesOnly: RequestHandler = (req, res, next) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!hasBody || JSON_TYPE.test(type)) return next();
  // The body is never read: close the connection rather than drain whatever the client is sending.
  res.setHeader('connection', 'close');
  res.status(415).json({ error: 'unsupported_media_type', message: `request body must be application/json (Content-Type: ${type || 'none'})`, trace_id: currentTraceId() ?? null });
};
