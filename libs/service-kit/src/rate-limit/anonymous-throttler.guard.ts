import { HttpStatus, Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { CommonErrorCode } from '@pancha/contracts';
import { DomainException } from '../errors/domain.exception';

export const ANONYMOUS_THROTTLER = 'anonymous';

interface HttpRequestLike {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * @nestjs/throttler's guard, applied to requests WITHOUT a credential only: one budget per client address
 * across every route of this service (tracker and key are set in ServiceKitModule's throttler options). Requests carrying an Authorization header are left to
 * ServiceAuthGuard, which admits valid service tokens without limit and counts failed ones against the
 * client's failed-authentication budget. Over the limit: 429 `rate_limited` with Retry-After.
 */
@Injectable()
export class AnonymousThrottlerGuard extends ThrottlerGuard {
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const auth = context.switchToHttp().getRequest<HttpRequestLike>().headers['authorization'];
    return auth !== undefined && String(auth).trim() !== '';
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire);
    context.switchToHttp().getResponse<{ setHeader(name: string, value: string): unknown }>().setHeader('Retry-After', String(retryAfter));
    throw new DomainException(
      HttpStatus.TOO_MANY_REQUESTS,
      CommonErrorCode.RateLimited,
      `too many requests without a credential from this client (limit ${detail.limit} per ${Math.round(detail.ttl / 1000)} s); retry after ${retryAfter} s`,
    );
  }
}
