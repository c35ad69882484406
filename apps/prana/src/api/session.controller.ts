import { Controller, Get, Req, Res } from '@nestjs/common';
import { PolicyService } from '@pancha/governance';
import type { Request, Response } from 'express';
import { SignedInService } from '../auth/signed-in.service';
import { CsrfTokens } from '../auth/session-parts';
import { PranaConfig } from '../config/env.validation';

@Controller('api')
export class SessionController {
  constructor(
    private readonly signedIn: SignedInService,
    private readonly config: PranaConfig,
    private readonly parts: CsrfTokens,
    private readonly policy: PolicyService,
  ) {}

  /**
   * Who is signed in, what they may do, the products they see (config/policy.yaml `people.products`, `['*']` for
   * every product: the console names the first of a restricted list in its telemetry), the CSRF token for writes
   * and when the session ends.
   */
  @Get('session')
  async session(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const { user, permissions } = await this.signedIn.require(req);
    const s = req.session;
    const idleEnd = (s.last_seen_at ?? 0) + this.config.SESSION_IDLE_SECONDS * 1000;
    const absoluteEnd = (s.created_at ?? 0) + this.config.SESSION_ABSOLUTE_SECONDS * 1000;
    res.setHeader('cache-control', 'no-store');
    return {
      user: { sub: user.sub, username: user.username, name: user.name, roles: user.roles },
      permissions,
      products: this.policy.peopleProducts(),
      csrf_token: this.parts.csrfToken(req, res),
      expires_at: new Date(Math.min(idleEnd, absoluteEnd)).toISOString(),
    };
  }
}
