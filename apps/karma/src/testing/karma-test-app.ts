import { validateEnv } from '@pancha/service-kit';
import { bootServiceWithDatabase, routerEventsTo, type ServiceEnv, type ServiceWithDatabase, type ServiceWithDatabaseOptions } from '@pancha/testing';
import { AppModule } from '../app.module';
import { Clock } from '../clock/clock';
import { KarmaConfig } from '../config/env.validation';

/** Karma's root module from an environment, validated as main.ts validates it. */
export const karmaModule = (env: ServiceEnv) => AppModule.forRoot(validateEnv(KarmaConfig, env));

/**
 * Karma on a test database with keys of its own (or the test's), reading time from `clock` when one is given.
 * Without `coreUrl` its router events are off: they are tested in router-events/, and would otherwise go to a
 * CORE_URL nobody started. With `coreUrl` its outbox relays quickly over HTTP to that stand-in Core. Its role sweep
 * is off unless `env` sets KARMA_ROLE_SWEEP_INTERVAL_MS: a test runs a round itself (KarmaRoleSweep.runOnce), so no
 * round fires on the wall clock in the middle of another test's expectations.
 */
export function bootKarma(options: Omit<ServiceWithDatabaseOptions, 'module'> & { coreUrl?: string; clock?: Clock }): Promise<ServiceWithDatabase> {
  const { coreUrl, clock, env, override, ...rest } = options;
  const events = coreUrl ? routerEventsTo(coreUrl) : { KARMA_ROUTER_EVENTS_ENABLED: 'false' };
  return bootServiceWithDatabase({
    ...rest,
    module: karmaModule,
    env: { ...events, KARMA_ROLE_SWEEP_INTERVAL_MS: '0', ...env },
    override: (builder) => {
      const clocked = clock ? builder.overrideProvider(Clock).useValue(clock) : builder;
      return override ? override(clocked) : clocked;
    },
  });
}
