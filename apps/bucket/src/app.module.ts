import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { EventTopic, RequesterId } from '@pancha/contracts';
import { EventHopHandler, JetStreamConsumerModule } from '@pancha/nats-transport';
import { OutboxModule } from '@pancha/outbox';
import { ServiceKitModule } from '@pancha/service-kit';
import { AuditModule } from './audit/audit.module';
import { BucketConfig } from './config/env.validation';
import { BUCKET_ENTITIES, BUCKET_MIGRATIONS, BUCKET_RUNTIME_GRANTS } from './database';
import { EventsModule } from './events/events.module';
import { PranaModule } from './prana/prana.module';
import { bucketEventSink } from './router-events/bucket-event-sink';

@Module({})
export class AppModule {
  static forRoot(config: BucketConfig): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [
        ServiceKitModule.forRoot({
          service: 'bucket',
          self: RequesterId.Bucket,
          config,
          database: { entities: BUCKET_ENTITIES, migrations: BUCKET_MIGRATIONS, runtimeGrants: BUCKET_RUNTIME_GRANTS },
        }),
        // Provides the JetStream consumer only when NATS_URL is set; main.ts attaches it (connectJetStream).
        JetStreamConsumerModule.forRoot({ service: 'bucket', config }),
        // The outbox carries `audit.verify_failed` to Core's event router (docs/events.md).
        OutboxModule.forRoot({ config, handlers: [EventHopHandler(EventTopic.CoreBucketEvent)], imports: [bucketEventSink(config)] }),
        EventsModule,
        AuditModule,
        PranaModule,
      ],
      providers: [{ provide: BucketConfig, useValue: config }],
      exports: [BucketConfig],
    };
  }
}
