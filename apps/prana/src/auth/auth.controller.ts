import { Controller, Get, HttpStatus, Logger, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Clock } from '../clock';
import { PranaException } from '../prana.exception';
import { OidcClientService } from './oidc-client.service';
import { safeReturnTo } from './return-to';
import { CSRF_COOKIE, SESSION_COOKIE } from './session.middleware';
import type { PendingLogin } from './session-data';

/** Sign-ins in flight per browser session (several tabs); older ones are dropped. */
const MAX_PENDING = 5;
const PENDING_TTL_MS = 10 * 60_000;

@Controller('auth')
export class AuthController {
  private readonly logger = new Logger(AuthController.name);

  constructor(
    private readonly oidc: OidcClientService,
    private readonly clock: Clock,
  ) {}

  /** 302 to the provider (code + PKCE, state, nonce); return_to is kept only when it is a same-origin path. */
  @Get('login')
  async login(@Query('return_to') returnTo: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    let begun: { url: string; pending: PendingLogin };
    try {
      begun = await this.oidc.begin(safeReturnTo(returnTo));
    } catch (error) {
      throw new PranaException(HttpStatus.SERVICE_UNAVAILABLE, 'idp_unavailable', `the sign-in provider cannot be reached: ${(error as Error).message}`);
    }
    const now = this.clock.now();
    const pending = (req.session.pending ?? []).filter((p) => now - p.started_at < PENDING_TTL_MS);
    req.session.pending = [...pending, begun.pending].slice(-MAX_PENDING);
    await save(req);
    res.redirect(HttpStatus.FOUND, begun.url);
  }

  /** Code exchange, then a new session id (no fixation) holding the tokens; 302 to return_to. */
  @Get('callback')
  async callback(@Req() req: Request, @Res() res: Response): Promise<void> {
    const url = new URL(req.originalUrl, this.oidc.publicUrl);
    const state = url.searchParams.get('state');
    const pending = req.session.pending?.find((p) => p.state === state);
    if (url.searchParams.has('error')) {
      throw new PranaException(HttpStatus.BAD_REQUEST, 'login_failed', `the provider refused the sign-in: ${url.searchParams.get('error')}`);
    }
    if (!state || !pending || this.clock.now() - pending.started_at >= PENDING_TTL_MS) {
      throw new PranaException(HttpStatus.BAD_REQUEST, 'login_state', 'no sign-in in progress for this browser (start again at /auth/login)');
    }
    let result: Awaited<ReturnType<OidcClientService['complete']>>;
    try {
      result = await this.oidc.complete(url, pending);
    } catch (error) {
      this.logger.warn(`sign-in failed: ${(error as Error).message}`);
      throw new PranaException(HttpStatus.BAD_REQUEST, 'login_failed', `sign-in failed: ${(error as Error).message}`);
    }
    await new Promise<void>((resolve, reject) => req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())));
    const now = this.clock.now();
    req.session.user = result.user;
    req.session.tokens = result.tokens;
    req.session.created_at = now;
    req.session.last_seen_at = now;
    await save(req);
    this.logger.log(`${result.user.username} signed in (roles ${result.user.roles.join(', ') || 'none'})`);
    res.redirect(HttpStatus.FOUND, pending.return_to);
  }

  /** CSRF-checked (middleware). 204, or 200 with the provider's logout URL for the browser to visit. */
  @Post('logout')
  async logout(@Req() req: Request, @Res() res: Response): Promise<void> {
    const logoutUrl = await this.oidc.logoutUrl(req.session.tokens?.id_token);
    await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.clearCookie(CSRF_COOKIE, { path: '/' });
    if (logoutUrl) res.status(HttpStatus.OK).json({ logout_url: logoutUrl });
    else res.status(HttpStatus.NO_CONTENT).end();
  }
}

function save(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err: unknown) => (err ? reject(err) : resolve())));
}
