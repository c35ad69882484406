import { Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { type GovernanceSource, KeyStore, loadKeyStore, PolicyService, TokenIssuer } from '@pancha/governance';
import { BaseServiceConfig, ServiceIdentityOptions, ServiceLoggingModule } from '@pancha/service-kit';
import type { Writable } from 'node:stream';
import { HealthController } from './api/health.controller';
import { ProbesController } from './api/probes.controller';
import { ProxyController } from './api/proxy.controller';
import { FeedWatch } from './api/feed-watch.service';
import { RunWatch } from './api/run-watch.service';
import { SessionController } from './api/session.controller';
import { StreamController } from './api/stream.controller';
import { TelemetryController } from './api/telemetry.controller';
import { UpstreamService } from './api/upstream.service';
import { AuthController } from './auth/auth.controller';
import { OidcClientService } from './auth/oidc-client.service';
import { CsrfTokens } from './auth/session-parts';
import { SignedInService } from './auth/signed-in.service';
import { Clock } from './clock';
import { PranaConfig } from './config/env.validation';

export interface PranaModuleOptions {
  config: PranaConfig;
  clock: Clock;
  csrf: CsrfTokens;
  /** PRANA's own key (service identity) instead of loading it from the config (tests). */
  keyStore?: KeyStore;
  logDestination?: Writable;
  /** What the app must release when it closes (its Redis connection, Vite in dev mode). */
  closeHooks?: CloseHooks;
}

/** Releases what createPranaApp opened outside Nest, when Nest closes the app (app.close() or a signal). */
export class CloseHooks implements OnApplicationShutdown {
  private readonly hooks: Array<() => unknown> = [];

  add(hook: () => unknown): void {
    this.hooks.push(hook);
  }

  async onApplicationShutdown(): Promise<void> {
    for (const hook of this.hooks.splice(0)) await hook();
  }
}

/**
 * PRANA's BFF: sign-in (OIDC client), sessions, the console's API (a checked window on Core, Bucket and
 * Karma) and telemetry forwarding. It holds PRANA's service key; the browser never sees it nor any token.
 */
@Module({})
export class AppModule {
  static forRoot(options: PranaModuleOptions): DynamicModule {
    const { config } = options;
    return {
      module: AppModule,
      imports: [ServiceLoggingModule.forRoot('prana', config.LOG_LEVEL, options.logDestination)],
      controllers: [ProbesController, AuthController, SessionController, HealthController, TelemetryController, StreamController, ProxyController],
      providers: [
        { provide: PranaConfig, useValue: config },
        { provide: BaseServiceConfig, useValue: config },
        { provide: ServiceIdentityOptions, useValue: new ServiceIdentityOptions('prana', config.APP_ENV) },
        { provide: Clock, useValue: options.clock },
        { provide: CsrfTokens, useValue: options.csrf },
        { provide: CloseHooks, useValue: options.closeHooks ?? new CloseHooks() },
        { provide: KeyStore, useFactory: () => options.keyStore ?? loadKeyStore(RequesterId.Prana, config) },
        { provide: TokenIssuer, useFactory: (keys: KeyStore) => new TokenIssuer(keys), inject: [KeyStore] },
        OidcClientService,
        SignedInService,
        UpstreamService,
        RunWatch,
        FeedWatch,
        // The live stream shows each person only runs of the products people may see (policy.yaml people.products).
        { provide: PolicyService, useFactory: () => PolicyService.fromEnv(config as unknown as GovernanceSource) },
      ],
    };
  }
}
