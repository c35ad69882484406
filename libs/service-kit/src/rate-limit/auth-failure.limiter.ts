import { AuthFailureLimiter } from '@pancha/governance';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { normalizeIp } from '@nestjs/throttler';

export const AUTH_FAILURE_THROTTLER = 'auth-failure';

export interface AuthFailureLimits {
  service: string;
  limit: number;
  windowMs: number;
  blockMs: number;
}

/** Failed authentications per client address in the app's rate-limit storage (shared via Redis when set). */
export class ThrottlerAuthFailureLimiter extends AuthFailureLimiter {
  constructor(
    private readonly storage: ThrottlerStorage,
    private readonly limits: AuthFailureLimits,
  ) {
    super();
  }

  async recordFailure(client: string): Promise<number | undefined> {
    const key = `${this.limits.service}:${AUTH_FAILURE_THROTTLER}:${normalizeIp(client)}`;
    const record = await this.storage.increment(key, this.limits.windowMs, this.limits.limit, this.limits.blockMs, AUTH_FAILURE_THROTTLER);
    return record.isBlocked ? Math.max(1, record.timeToBlockExpire) : undefined;
  }
}
