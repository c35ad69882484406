import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { RequesterId, ServiceName } from '@pancha/contracts';
import { GovernanceConfig } from './governance.config';
import { KeyStore, loadKeyStore } from './key-store';
import { PolicyService } from './policy.service';
import { ServiceAuthGuard } from './service-auth.guard';
import { TokenIssuer } from './token-issuer.service';
import { TokenVerifier } from './token-verifier.service';

export interface GovernanceModuleOptions {
  /** This service: the audience its tokens must carry. */
  service: ServiceName;
  /** The requester id this service signs its outgoing tokens as. */
  self: RequesterId;
  /** Environment to read keys and PANCHA_POLICY_FILE from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Ready-made pieces instead of loading from the environment (tests). */
  keyStore?: KeyStore;
  policy?: PolicyService;
  /** Lifetime of issued tokens, 1..120 s (default 60). */
  tokenTtlSeconds?: number;
}

@Global()
@Module({})
export class GovernanceModule {
  /**
   * Keys and policy load when the module is instantiated, so a missing key or an invalid policy stops the
   * service at start with a message naming what to fix.
   */
  static forRoot(options: GovernanceModuleOptions): DynamicModule {
    const env = options.env ?? process.env;
    return {
      module: GovernanceModule,
      global: true,
      providers: [
        { provide: GovernanceConfig, useValue: new GovernanceConfig(options.service, options.self) },
        { provide: KeyStore, useFactory: () => options.keyStore ?? loadKeyStore(options.self, env) },
        { provide: PolicyService, useFactory: () => options.policy ?? PolicyService.fromEnv(env) },
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
        ServiceAuthGuard,
        { provide: APP_GUARD, useExisting: ServiceAuthGuard },
      ],
      exports: [GovernanceConfig, KeyStore, PolicyService, TokenIssuer, TokenVerifier, ServiceAuthGuard],
    };
  }
}
