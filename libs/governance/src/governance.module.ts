import { Global, Module, type DynamicModule, type FactoryProvider, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { RequesterId, ServiceName } from '@pancha/contracts';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { GovernanceConfig, type GovernanceSource } from './governance.config';
import type { UserTokenSettings } from './user-token-verifier';
import { KeyStore, loadKeyStore } from './key-store';
import { PolicyService } from './policy.service';
import { ServiceAuthGuard } from './service-auth.guard';
import { TokenIssuer } from './token-issuer.service';
import { InMemoryTokenReplayStore, TokenReplayStore, TakenTokens } from './token-replay.store';
import { TokenVerifier } from './token-verifier.service';
import { UserTokenVerifier } from './user-token-verifier';

/** How to build one of governance's pluggable pieces from the app's providers (e.g. its DataSource). */
export type GovernanceFactory<T> = Omit<FactoryProvider<T>, 'provide'>;

export interface GovernanceModuleOptions {
  /** This service: the audience its tokens must carry. */
  service: ServiceName;
  /** The requester id this service signs its outgoing tokens as. */
  self: RequesterId;
  /** The app's validated config: where keys and the policy are. Never process.env. */
  config?: GovernanceSource;
  /** Ready-made pieces instead of loading them from `config` (tests). */
  keyStore?: KeyStore;
  policy?: PolicyService;
  /** Lifetime of issued tokens, 1..120 s (default 60). */
  tokenTtlSeconds?: number;
  /** Where the jti of write tokens is remembered; default in this process only (service-kit passes PostgreSQL). */
  tokenReplayStore?: GovernanceFactory<TokenReplayStore>;
  /** People's tokens: the verifier to use instead of one built from config's OIDC_* settings (tests). */
  userTokens?: UserTokenVerifier;
  /** Failed-authentication budget per client; default none (service-kit passes the app's rate-limit storage). */
  authFailureLimiter?: GovernanceFactory<AuthFailureLimiter>;
}

@Global()
@Module({})
export class GovernanceModule {
  /**
   * Keys and policy load when the module is instantiated, so a missing key or an invalid policy stops the
   * service at start with a message naming what to fix.
   */
  static forRoot(options: GovernanceModuleOptions): DynamicModule {
    const settings: GovernanceSource = options.config ?? {};
    const optional: Provider[] = options.authFailureLimiter ? [{ provide: AuthFailureLimiter, ...options.authFailureLimiter }] : [];
    return {
      module: GovernanceModule,
      global: true,
      providers: [
        { provide: GovernanceConfig, useValue: new GovernanceConfig(options.service, options.self) },
        { provide: KeyStore, useFactory: () => options.keyStore ?? loadKeyStore(options.self, settings) },
        { provide: PolicyService, useFactory: () => options.policy ?? PolicyService.fromEnv(settings) },
        {
          provide: TokenIssuer,
          useFactory: (keys: KeyStore) => new TokenIssuer(keys, { ttlSeconds: options.tokenTtlSeconds }),
          inject: [KeyStore],
        },
        {
          provide: TokenVerifier,
          useFactory: (keys: KeyStore, policy: PolicyService) => new TokenVerifier(keys, policy, options.service),
          inject: [KeyStore, PolicyService],
        },
        options.tokenReplayStore
          ? { provide: TokenReplayStore, ...options.tokenReplayStore }
          : { provide: TokenReplayStore, useFactory: () => new InMemoryTokenReplayStore() },
        {
          provide: UserTokenVerifier,
          useFactory: (policy: PolicyService) => options.userTokens ?? UserTokenVerifier.fromSettings(settings as UserTokenSettings, policy),
          inject: [PolicyService],
        },
        ...optional,
        { provide: TakenTokens, useFactory: () => new TakenTokens() },
        ServiceAuthGuard,
        { provide: APP_GUARD, useExisting: ServiceAuthGuard },
      ],
      exports: [GovernanceConfig, KeyStore, PolicyService, TokenIssuer, TokenVerifier, TokenReplayStore, TakenTokens, UserTokenVerifier, ServiceAuthGuard, ...(options.authFailureLimiter ? [AuthFailureLimiter] : [])],
    };
  }
}
