import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { Operation } from './policy.service';
import type { VerifiedRequester } from './verified-requester';
import { requesterOf } from './requester-context';

export const IS_PUBLIC_KEY = Symbol('pancha.governance.public');
export const REQUIRED_OPERATION_KEY = Symbol('pancha.governance.operation');
export const CREDENTIAL_REQUIRED_KEY = Symbol('pancha.governance.credential-required');
export const TOKEN_CLAIMED_BY_WRITE_KEY = Symbol('pancha.governance.token-claimed-by-write');

/** No authentication or policy check at all: probes and scrapes (/health, /readyz, /metrics). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_KEY, true);

/**
 * The policy operation a handler performs. Every non-public handler must declare one: the guard denies
 * handlers without it (deny by default). On a class it applies to every handler without its own.
 */
export const RequireOperation = (operation: Operation): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_OPERATION_KEY, operation);

/**
 * A verified service token is required even where the policy grants `anonymous` the operation (Core lets
 * anonymous callers `read` their tasks, but not operator data such as outbox statistics).
 */
export const RequireCredential = (): MethodDecorator & ClassDecorator => SetMetadata(CREDENTIAL_REQUIRED_KEY, true);

/**
 * The handler claims its write token itself, in the statement or transaction of the write it makes (writeTokenOf
 * gives the use to claim, tokenReplayed the answer when the claim loses), instead of the guard claiming it in a commit
 * of its own before the handler runs: one commit per write instead of two. The guard only takes the token in this
 * process (TakenTokens): a second use on the same replica is refused before the handler. In the shared database the
 * token is used by the write it made: a request refused before its write leaves it unused there, so another replica
 * would let it write once.
 */
export const ClaimTokenWithWrite = (): MethodDecorator => SetMetadata(TOKEN_CLAIMED_BY_WRITE_KEY, true);

/** The verified requester of this request (set by ServiceAuthGuard). */
export const Requester = createParamDecorator((_data: unknown, ctx: ExecutionContext): VerifiedRequester => {
  const requester = requesterOf(ctx);
  if (!requester) {
    // Only reachable on a @Public() handler, where nobody was authenticated.
    throw new Error('@Requester() used on a handler that ServiceAuthGuard did not authenticate (is it @Public()?)');
  }
  return requester;
});
