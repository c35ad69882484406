/**
 * Counts failed authentications per client (ISSUE-6 finding 9): a client that keeps presenting missing,
 * forged, expired or replayed credentials is answered 429 with Retry-After instead of 401. service-kit
 * backs it with the app's rate-limit storage (Redis when REDIS_URL is set, so replicas share the count).
 */
export abstract class AuthFailureLimiter {
  /**
   * Records one failure by `client` (its address); returns the seconds it must wait when it is over its
   * limit, undefined while it is not.
   */
  abstract recordFailure(client: string): Promise<number | undefined>;
}
