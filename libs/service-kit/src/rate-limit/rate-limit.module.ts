import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, ThrottlerStorage } from '@nestjs/throttler';
import type { BaseServiceConfig } from '../config/env.validation';
import { ANONYMOUS_THROTTLER, AnonymousThrottlerGuard } from './anonymous-throttler.guard';
import { clientAddress } from './client-address';
import { RateLimitStorage } from './rate-limit.storage';

/**
 * @nestjs/throttler for this service: the storage (Redis when REDIS_URL is set, else this process) that
 * both limits count in, and the anonymous-traffic limit as a global guard (unless its limit is 0). The
 * failed-authentication limit is applied by ServiceAuthGuard through ThrottlerAuthFailureLimiter, with the
 * same storage (ThrottlerStorage, exported globally by ThrottlerModule).
 */
@Module({})
export class RateLimitModule {
  static forRoot(service: string, config: BaseServiceConfig): DynamicModule {
    const anonymous = config.RATE_LIMIT_ANONYMOUS_LIMIT > 0;
    const guards: Provider[] = anonymous ? [{ provide: APP_GUARD, useClass: AnonymousThrottlerGuard }] : [];
    return {
      module: RateLimitModule,
      imports: [
        ThrottlerModule.forRootAsync({
          useFactory: () => ({
            // Connected by its onModuleInit (Nest calls it on ThrottlerModule's ThrottlerStorage provider), so a start
            // that fails while the modules are built leaves no client open.
            storage: RateLimitStorage.unconnected(config),
            throttlers: anonymous
              ? [{ name: ANONYMOUS_THROTTLER, limit: config.RATE_LIMIT_ANONYMOUS_LIMIT, ttl: config.RATE_LIMIT_ANONYMOUS_WINDOW_MS }]
              : [],
            // Retry-After is set by the guard on a 429; no X-RateLimit-* headers on every answer.
            setHeaders: false,
            getTracker: (req: Record<string, unknown>) => clientAddress(req),
            // One budget per client and service, across every route (the library's default is per route).
            generateKey: (_context, tracker, name) => `${service}:${name}:${tracker}`,
          }),
        }),
      ],
      providers: guards,
      exports: [ThrottlerModule],
    };
  }
}

export { ThrottlerStorage };
