import { DynamicModule, Module } from '@nestjs/common';
import { EventTopic, RequesterId } from '@pancha/contracts';
import { EventHopHandler, JetStreamConsumerModule } from '@pancha/nats-transport';
import { OutboxModule } from '@pancha/outbox';
import { ServiceKitModule } from '@pancha/service-kit';
import { DEFAULT_KARMA_CONFIG_FILE, loadKarmaConfig } from './config/karma-config';
import { KarmaConfig } from './config/env.validation';
import { KARMA_ENTITIES, KARMA_MIGRATIONS } from './database';
import { EventsModule } from './events/events.module';
import { LedgerModule } from './ledger/ledger.module';
import { ProfileModule } from './profile/profile.module';
import { karmaEventSink } from './router-events/karma-event-sink';

@Module({})
export class AppModule {
  /** Loads and validates the model file first: a bad file stops the service before anything starts. */
  static forRoot(config: KarmaConfig): DynamicModule {
    const model = loadKarmaConfig(config.KARMA_CONFIG_FILE ?? DEFAULT_KARMA_CONFIG_FILE);
    return {
      module: AppModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'karma',
          self: RequesterId.Karma,
          config,
          database: { entities: KARMA_ENTITIES, migrations: KARMA_MIGRATIONS },
        }),
        // The outbox carries `karma.role_changed` to Core's event router (docs/events.md).
        OutboxModule.forRoot({ config, handlers: [EventHopHandler(EventTopic.CoreKarmaEvent)], imports: [karmaEventSink(config)] }),
        LedgerModule.forRoot(model, {
          routerEvents: config.KARMA_ROUTER_EVENTS_ENABLED,
          roleSweepIntervalMs: config.KARMA_ROLE_SWEEP_INTERVAL_MS,
          roleSweepBatchSize: config.KARMA_ROLE_SWEEP_BATCH_SIZE,
        }),
        // Provides the JetStream consumer only when NATS_URL is set; main.ts attaches it (connectJetStream).
        JetStreamConsumerModule.forRoot({ service: 'karma', config }),
        EventsModule,
        ProfileModule,
      ],
      providers: [{ provide: KarmaConfig, useValue: config }],
    };
  }
}
