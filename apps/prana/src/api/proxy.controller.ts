import { All, Controller, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { corePermission, type Permission } from '../auth/permissions';
import { SignedInService } from '../auth/signed-in.service';
import { PolicyService } from '@pancha/governance';
import { PranaException } from '../prana.exception';
import { karmaPathUser, karmaReadRefusal } from './karma-scope';
import { UpstreamService, type Upstream } from './upstream.service';

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
 * Karma keeps no products, so people restricted to some read only their own karma there (karma-scope.ts).
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
    const { tokens } = await this.signedIn.require(req, permission);
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
    // Karma keeps no products: people restricted to some read their own karma only (karma-scope.ts).
    await this.viaPrana('karma', 'view:karma', req, res, path, (username) =>
      karmaReadRefusal(this.policy.peopleProducts(), username, karmaPathUser(path.split('?')[0])),
    );
  }

  private async viaPrana(
    service: 'bucket' | 'karma',
    permission: Permission,
    req: Request,
    res: Response,
    path: string,
    refusal?: (username: string) => PranaException | undefined,
  ): Promise<void> {
    const { user } = await this.signedIn.require(req, permission);
    const refused = refusal?.(user.username);
    if (refused) throw refused;
    await this.forward(service, req, res, path, await this.upstream.personBearer(service), { 'x-pancha-acting-user': user.username });
  }

  private async forward(service: Upstream, req: Request, res: Response, path: string, bearer: string, headers?: Record<string, string>): Promise<void> {
    const answer = await this.upstream.call(service, req.method, path, { bearer, body: req.body as unknown, req, headers });
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
