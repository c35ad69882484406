import { HttpException, Injectable, Logger, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ANONYMOUS } from '@pancha/contracts';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { CREDENTIAL_REQUIRED_KEY, IS_PUBLIC_KEY, REQUIRED_OPERATION_KEY, TOKEN_CLAIMED_BY_WRITE_KEY } from './governance.decorators';
import { GovernanceConfig } from './governance.config';
import { forbidden, tokenReplayed, tooManyAuthFailures, unauthenticated } from './governance.exception';
import { PolicyService, type Operation, type PolicySubject } from './policy.service';
import { attachRequester, authorizationHeader } from './requester-context';
import { TokenReplayStore, TakenTokens } from './token-replay.store';
import { TokenVerificationError, TokenVerifier } from './token-verifier.service';
import { UserTokenVerifier } from './user-token-verifier';
import { type VerifiedRequester, writeTokenOf } from './verified-requester';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Reads may reuse a token within its short lifetime (an operator's curl); every other operation changes something. */
export const isReplayProtected = (operation: Operation): boolean => operation !== 'read';

interface HttpRequestLike {
  ip?: string;
  socket?: { remoteAddress?: string };
}
interface HttpResponseLike {
  setHeader(name: string, value: string): unknown;
}

/**
 * Global guard (APP_GUARD): authenticates the caller's service token and checks the policy for the
 * handler's declared operation. 401 for a missing (when anonymous may not) or bad credential, or for a
 * write whose token was already used; 403 when the policy refuses or the handler declares no operation;
 * 429 with Retry-After once a client has failed authentication too often (when a limiter is provided).
 */
@Injectable()
export class ServiceAuthGuard implements CanActivate {
  private readonly logger = new Logger(ServiceAuthGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly config: GovernanceConfig,
    private readonly verifier: TokenVerifier,
    private readonly policy: PolicyService,
    private readonly replay: TokenReplayStore,
    private readonly taken: TakenTokens,
    @Optional() private readonly failures?: AuthFailureLimiter,
    @Optional() private readonly people?: UserTokenVerifier,
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
    const credentialRequired = this.reflector.getAllAndOverride<boolean>(CREDENTIAL_REQUIRED_KEY, targets) === true;

    let requester: VerifiedRequester;
    try {
      requester = await this.authenticate(authorizationHeader(ctx), operation, credentialRequired);
      if (requester.user) {
        // A person: their roles, through the policy's people section, decide.
        if (!this.policy.peopleOperations(this.config.service, requester.user.roles).includes(operation)) {
          const roles = requester.user.roles.length ? `roles ${requester.user.roles.join(', ')}` : 'no role';
          throw forbidden(`${requester.id} (${roles}) may not ${operation} on ${this.config.service}`);
        }
      } else if (!this.policy.isAllowed(this.config.service, requester.id as PolicySubject, operation)) {
        throw forbidden(`requester ${requester.id} may not ${operation} on ${this.config.service}`);
      }
      await this.refuseReplay(ctx, requester, operation);
    } catch (error) {
      throw await this.limited(ctx, error);
    }
    attachRequester(ctx, requester);
    return true;
  }

  private async authenticate(header: string | undefined, operation: Operation, credentialRequired: boolean): Promise<VerifiedRequester> {
    if (header === undefined || header.trim() === '') {
      if (!credentialRequired && this.policy.isAllowed(this.config.service, ANONYMOUS, operation)) {
        return { id: ANONYMOUS, products: this.policy.effectiveProducts(ANONYMOUS) };
      }
      throw unauthenticated('a bearer token is required');
    }
    const match = BEARER.exec(header);
    if (!match) throw unauthenticated('Authorization must be "Bearer <token>"');
    try {
      // A person's token names the OIDC provider as issuer; a service token names a requester id.
      if (this.people?.claims(match[1])) {
        if (!this.policy.acceptsPeople(this.config.service)) throw unauthenticated(`${this.config.service} does not accept people's tokens`);
        return await this.people.verify(match[1]);
      }
      return await this.verifier.verify(match[1]);
    } catch (err) {
      if (err instanceof TokenVerificationError) throw unauthenticated(err.message);
      throw err;
    }
  }

  /**
   * A write's token is single-use: its jti is claimed in this service's own database (shared by every
   * replica) before the handler runs, and a second claim is refused. Message consumers claim theirs with the
   * message's stream sequence as binding, so redeliveries of one message pass; HTTP has no such binding. A
   * @ClaimTokenWithWrite() handler claims the token with its write; here it is only taken in this process
   * (TakenTokens), so a second use on this replica is refused before any handler work, and counts as a failure.
   */
  private async refuseReplay(ctx: ExecutionContext, requester: VerifiedRequester, operation: Operation): Promise<void> {
    const use = writeTokenOf(requester);
    if (!isReplayProtected(operation) || use === undefined || ctx.getType() !== 'http') return;
    const claimedByWrite = this.reflector.get<boolean | undefined>(TOKEN_CLAIMED_BY_WRITE_KEY, ctx.getHandler()) === true;
    if (claimedByWrite ? !this.taken.take(use) : !(await this.replay.claim(use))) throw tokenReplayed(use.jti, operation);
  }

  /** A 401 counts against the client's failed-authentication budget; over it, the answer is 429 instead. */
  private async limited(ctx: ExecutionContext, error: unknown): Promise<unknown> {
    if (!this.failures || ctx.getType() !== 'http' || !(error instanceof HttpException) || error.getStatus() !== 401) return error;
    const http = ctx.switchToHttp();
    const req = http.getRequest<HttpRequestLike>();
    const client = req.ip ?? req.socket?.remoteAddress ?? 'unknown';
    const retryAfter = await this.failures.recordFailure(client);
    if (retryAfter === undefined) return error;
    http.getResponse<HttpResponseLike>().setHeader('Retry-After', String(retryAfter));
    return tooManyAuthFailures(retryAfter);
  }
}
