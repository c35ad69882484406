import { Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ANONYMOUS } from '@pancha/contracts';
import { IS_PUBLIC_KEY, REQUIRED_OPERATION_KEY } from './governance.decorators';
import { GovernanceConfig } from './governance.config';
import { forbidden, unauthenticated } from './governance.exception';
import { PolicyService, type Operation } from './policy.service';
import { attachRequester, authorizationHeader } from './requester-context';
import { TokenVerificationError, TokenVerifier } from './token-verifier.service';
import type { VerifiedRequester } from './verified-requester';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Global guard (APP_GUARD): authenticates the caller's service token and checks the policy for the
 * handler's declared operation. 401 for a missing (when anonymous may not) or bad credential, 403 when
 * the policy refuses or the handler declares no operation.
 */
@Injectable()
export class ServiceAuthGuard implements CanActivate {
  private readonly logger = new Logger(ServiceAuthGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly config: GovernanceConfig,
    private readonly verifier: TokenVerifier,
    private readonly policy: PolicyService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;

    const operation = this.reflector.getAllAndOverride<Operation | undefined>(REQUIRED_OPERATION_KEY, targets);
    if (!operation) {
      const handler = `${ctx.getClass().name}.${ctx.getHandler().name}`;
      this.logger.error(`${handler} declares neither @RequireOperation() nor @Public(): denied`);
      throw forbidden(`${handler} declares no operation; denied by default`);
    }

    const requester = await this.authenticate(authorizationHeader(ctx), operation);
    if (!this.policy.isAllowed(this.config.service, requester.id, operation)) {
      throw forbidden(`requester ${requester.id} may not ${operation} on ${this.config.service}`);
    }
    attachRequester(ctx, requester);
    return true;
  }

  private async authenticate(header: string | undefined, operation: Operation): Promise<VerifiedRequester> {
    if (header === undefined || header.trim() === '') {
      if (this.policy.isAllowed(this.config.service, ANONYMOUS, operation)) {
        return { id: ANONYMOUS, products: this.policy.effectiveProducts(ANONYMOUS) };
      }
      throw unauthenticated('a bearer token is required');
    }
    const match = BEARER.exec(header);
    if (!match) throw unauthenticated('Authorization must be "Bearer <token>"');
    try {
      return await this.verifier.verify(match[1]);
    } catch (err) {
      if (err instanceof TokenVerificationError) throw unauthenticated(err.message);
      throw err;
    }
  }
}
