import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { forbiddenPermission, unauthenticated } from '../prana.exception';
import { OidcClientService } from './oidc-client.service';
import { permissionsFor, type Permission } from './permissions';
import type { SessionTokens, SessionUser } from './session-data';

export interface SignedIn {
  user: SessionUser;
  tokens: SessionTokens;
  permissions: Permission[];
}

/** The signed-in person of a request, with a usable access token, or a 401 (403 without the permission). */
@Injectable()
export class SignedInService {
  constructor(private readonly oidc: OidcClientService) {}

  async require(req: Request, permission?: Permission): Promise<SignedIn> {
    const s = req.session;
    if (!s?.user || !s.tokens) throw unauthenticated(s?.user === undefined ? 'sign in first' : 'the session has no tokens');
    const tokens = await this.oidc.fresh(s.tokens);
    if (!tokens) {
      // The provider no longer vouches for this session (refresh refused or impossible): it is over.
      await new Promise<void>((resolve) => s.destroy(() => resolve()));
      throw unauthenticated('the session expired; sign in again');
    }
    if (tokens !== s.tokens) s.tokens = tokens;
    const permissions = permissionsFor(s.user.roles);
    if (permission && !permissions.includes(permission)) throw forbiddenPermission(permission);
    return { user: s.user, tokens, permissions };
  }
}
