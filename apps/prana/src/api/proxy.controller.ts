import { All, Controller, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { corePermission, type Permission } from '../auth/permissions';
import { SignedInService } from '../auth/signed-in.service';
import { ALL_PRODUCTS, PolicyService } from '@pancha/governance';
import { PranaException } from '../prana.exception';
import {
  karmaAnswerScoped,
  karmaEventRefusal,
  karmaEventsPageScoped,
  karmaEventStatsScoped,
  karmaEventTypes,
  karmaPathUser,
  karmaReadRefusal,
} from './karma-scope';
import { UpstreamService, type Upstream, type UpstreamAnswer } from './upstream.service';

/** As many karma events as one `GET /events` page holds: enough to name the triggers they reach (stats, below). */
const KARMA_TRIGGER_PAGE = 500;

/** Everything after `/api/<service>` (path and query), refusing dot segments that could climb out of it. */
function upstreamPath(req: Request, prefix: string): string {
  const raw = req.originalUrl.slice(prefix.length);
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  const query = q === -1 ? '' : raw.slice(q);
  const decoded = safeDecode(path);
  if (decoded === undefined || /(^|\/)\.\.?(\/|$)/.test(decoded) || decoded.includes('\\')) {
    throw new PranaException(400, 'bad_path', 'the path may not contain dot segments or backslashes');
  }
  return `${path.startsWith('/') ? path : `/${path}`}${query}`;
}

function safeDecode(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

/**
 * `/api/core/**`, `/api/bucket/**`, `/api/karma/**`: the console's window on the services. Each call is
 * checked against the person's permissions first; Core then gets the person's own token (and applies its RBAC again), Bucket and Karma get GETs with PRANA's identity
 * narrowed to the products people see (the same `people.products` Core applies to the person's token) and the person named as the acting user.
 * Karma keeps no products, so people restricted to some read only their own karma there (karma-scope.ts), and,
 * since Core shows Karma's product-less events to every reader, only their own karma events in Core's `/events`.
 */
@Controller('api')
export class ProxyController {
  constructor(
    private readonly signedIn: SignedInService,
    private readonly upstream: UpstreamService,
    private readonly policy: PolicyService,
  ) {}

  @All('core/*path')
  async core(@Req() req: Request, @Res() res: Response): Promise<void> {
    const path = upstreamPath(req, '/api/core');
    const permission = corePermission(req.method, path.split('?')[0]);
    if (!permission) throw notPassedOn('core', req.method, path);
    const { tokens, user } = await this.signedIn.require(req, permission);
    const products = this.policy.peopleProducts();
    if (permission === 'view:events' && !products.includes(ALL_PRODUCTS)) {
      await this.coreEventsScoped(req, res, path, tokens.access_token, user.username, products);
      return;
    }
    // Run controls (cancel, retry, signals) go through Core like the rest: Core tells the executor who asked
    // (`user:<username>`, recorded as the actor in Bucket), and only Core can cancel a run whose start is still in
    // its outbox (the executor answers 404 for it).
    await this.forward('core', req, res, path, tokens.access_token);
  }

  @All('bucket/*path')
  async bucket(@Req() req: Request, @Res() res: Response): Promise<void> {
    const path = upstreamPath(req, '/api/bucket');
    // Reads only (the console verifies the chain with a GET too).
    if (req.method !== 'GET') throw notPassedOn('bucket', req.method, path);
    await this.viaPrana('bucket', 'view:audit', req, res, path);
  }

  @All('karma/*path')
  async karma(@Req() req: Request, @Res() res: Response): Promise<void> {
    const path = upstreamPath(req, '/api/karma');
    if (req.method !== 'GET') throw notPassedOn('karma', req.method, path);
    // Karma keeps no products: people restricted to some read their own karma only, without the Q-table's row (karma-scope.ts).
    const products = this.policy.peopleProducts();
    const bare = path.split('?')[0];
    await this.viaPrana(
      'karma',
      'view:karma',
      req,
      res,
      path,
      (username) => karmaReadRefusal(products, username, karmaPathUser(bare)),
      (body) => karmaAnswerScoped(products, bare, body),
    );
  }

  /**
   * Core's `/events` for a person restricted to some products: Core shows them the events of their products and
   * those without a product, Karma's among them; the BFF takes out the karma events of other users (karma-scope.ts).
   * One event is a 403 `karma_outside_products`, a page leaves them out (keeping Core's `next_cursor`), and the
   * stats keep their counts but not the noisiest keys of the triggers karma events reach.
   */
  private async coreEventsScoped(req: Request, res: Response, path: string, bearer: string, username: string, products: readonly string[]): Promise<void> {
    const answer = await this.upstream.call('core', req.method, path, { bearer, req });
    const body = answer.body;
    if (answer.status !== 200 || typeof body !== 'object' || body === null || Array.isArray(body)) return this.send(res, answer);
    const record = body as Record<string, unknown>;
    // By the answer's shape, not the path's spelling (Core's router takes `/events/STATS/` as the stats too).
    if (Array.isArray(record.events)) return this.send(res, { ...answer, body: karmaEventsPageScoped(products, username, record) });
    if (Array.isArray(record.noisiest_keys)) {
      const triggers = await this.karmaTriggers(req, record, bearer);
      return this.send(res, { ...answer, body: karmaEventStatsScoped(products, username, record, triggers) });
    }
    const refused = karmaEventRefusal(products, username, record);
    if (refused) throw refused;
    this.send(res, answer);
  }

  /**
   * The `<workflow>/<trigger>` that the karma events counted in `stats` were routed to, from their decisions (every
   * trigger of an event's type records one, a skip included); undefined when Core does not answer or there are more
   * karma events of a type than one page holds, and the stats then keep no key but the person's own.
   */
  private async karmaTriggers(req: Request, stats: Record<string, unknown>, bearer: string): Promise<Set<string> | undefined> {
    const triggers = new Set<string>();
    for (const type of karmaEventTypes(stats)) {
      const query = new URLSearchParams({ type, limit: String(KARMA_TRIGGER_PAGE), ...(typeof stats.since === 'string' ? { since: stats.since } : {}) });
      const page = await this.upstream.call('core', 'GET', `/events?${query}`, { bearer, req }).catch((error: unknown) => {
        // Core unreachable or too slow (a 502/504 for this call alone): the stats it did answer still go out, narrowed.
        if (error instanceof PranaException) return undefined;
        throw error;
      });
      if (!page) return undefined;
      const body = page.body as { events?: unknown; next_cursor?: unknown } | undefined;
      if (page.status !== 200 || !Array.isArray(body?.events) || body.next_cursor) return undefined;
      for (const event of body.events as Array<{ decisions?: unknown }>) {
        for (const d of Array.isArray(event?.decisions) ? (event.decisions as Array<{ workflow?: unknown; trigger?: unknown }>) : []) {
          triggers.add(`${String(d?.workflow)}/${String(d?.trigger)}`);
        }
      }
    }
    return triggers;
  }

  private async viaPrana(
    service: 'bucket' | 'karma',
    permission: Permission,
    req: Request,
    res: Response,
    path: string,
    refusal?: (username: string) => PranaException | undefined,
    scoped?: (body: unknown) => unknown,
  ): Promise<void> {
    const { user } = await this.signedIn.require(req, permission);
    const refused = refusal?.(user.username);
    if (refused) throw refused;
    await this.forward(service, req, res, path, await this.upstream.personBearer(service), { 'x-pancha-acting-user': user.username }, scoped);
  }

  private async forward(
    service: Upstream,
    req: Request,
    res: Response,
    path: string,
    bearer: string,
    headers?: Record<string, string>,
    scoped?: (body: unknown) => unknown,
  ): Promise<void> {
    const answer = await this.upstream.call(service, req.method, path, { bearer, body: req.body as unknown, req, headers });
    this.send(res, scoped && answer.status === 200 && answer.contentType.includes('json') ? { ...answer, body: scoped(answer.body) } : answer);
  }

  private send(res: Response, answer: UpstreamAnswer): void {
    res.status(answer.status);
    if (answer.body === undefined) {
      res.end();
      return;
    }
    if (answer.contentType.includes('json')) res.json(answer.body);
    else res.type('text/plain').send(String(answer.body));
  }
}

function notPassedOn(service: string, method: string, path: string): PranaException {
  return new PranaException(404, 'not_found', `PRANA does not pass ${method} ${path.split('?')[0]} on to ${service}`);
}
