import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Paths the SPA fallback never answers: they belong to the BFF (or the provider) and must 404 as JSON there. */
const NOT_THE_CONSOLE = /^\/(api|auth|oidc|health|readyz|metrics)(\/|$)/i;

/** dist/apps/prana/web, found from this file in dist/ or src/ (Jest), else under the working directory. */
export function defaultWebDir(): string {
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'dist', 'apps', 'prana', 'web');
    if (existsSync(candidate)) return candidate;
  }
  return path.resolve('dist', 'apps', 'prana', 'web');
}

/** Security headers for the console's pages: no framing, no sniffing, scripts only from PRANA itself. */
function pageHeaders(res: Response): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'same-origin');
}

/**
 * The console's static build with an SPA fallback: any GET outside /api, /auth and /oidc that is not a
 * file gets index.html (the console routes on the client). Without a build, a short page says how to make one.
 */
export function staticConsole(webDir: string): RequestHandler[] {
  const files = express.static(webDir, {
    index: false,
    fallthrough: true,
    setHeaders: (res, file) => {
      pageHeaders(res as unknown as Response);
      // Hashed assets may be cached for good; index.html never (it names the current ones).
      res.setHeader('cache-control', /[.-][0-9a-z_-]{8,}\.(js|css|woff2?|svg|png)$/i.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  const fallback = (req: Request, res: Response, next: NextFunction): void => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || NOT_THE_CONSOLE.test(req.path)) return next();
    const index = path.join(webDir, 'index.html');
    pageHeaders(res);
    res.setHeader('cache-control', 'no-cache');
    if (existsSync(index)) {
      res.type('html').send(readFileSync(index, 'utf8'));
      return;
    }
    res
      .status(503)
      .type('html')
      .send('<!doctype html><html lang="en"><meta charset="utf-8"><title>PRANA</title><body><h1>PRANA</h1>' +
        '<p>The console has not been built: run <code>npm run build</code> (it writes dist/apps/prana/web).</p>' +
        '<p>The API answers under <a href="/api/health">/api/health</a>.</p></body></html>');
  };
  return [(req, res, next) => (NOT_THE_CONSOLE.test(req.path) ? next() : files(req, res, next)), fallback];
}

/** The part of Vite's API the BFF uses. */
interface ViteModule {
  createServer(config: Record<string, unknown>): Promise<{
    middlewares: RequestHandler;
    transformIndexHtml(url: string, html: string): Promise<string>;
    close(): Promise<void>;
  }>;
}

/**
 * `nx serve prana`: Vite in middleware mode serves apps/prana/web with hot reload, through the BFF so that
 * the session cookie and the API are same-origin. Only when apps/prana/web/vite.config.ts exists.
 */
export async function viteConsole(rootDir: string): Promise<{ handlers: RequestHandler[]; close(): Promise<void> } | undefined> {
  const webRoot = path.join(rootDir, 'apps', 'prana', 'web');
  const configFile = path.join(webRoot, 'vite.config.ts');
  if (!existsSync(configFile)) return undefined;
  // Vite is ESM-only (and its types need a newer moduleResolution): a real dynamic import, kept as is by the build.
  const vite = (await import('vite' as string)) as ViteModule;
  const server = await vite.createServer({ root: webRoot, configFile, server: { middlewareMode: true }, appType: 'custom' });
  const html: RequestHandler = (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || NOT_THE_CONSOLE.test(req.path) || path.extname(req.path) !== '') return next();
    const index = path.join(webRoot, 'index.html');
    if (!existsSync(index)) return next();
    server
      .transformIndexHtml(req.originalUrl, readFileSync(index, 'utf8'))
      .then((page) => {
        pageHeaders(res);
        res.type('html').send(page);
      })
      .catch(next);
  };
  const assets: RequestHandler = (req, res, next) => (NOT_THE_CONSOLE.test(req.path) ? next() : server.middlewares(req, res, next));
  return { handlers: [assets, html], close: () => server.close() };
}
