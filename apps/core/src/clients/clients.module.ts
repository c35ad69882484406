import { type DynamicModule, Global, Module } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { TokenIssuer } from '@pancha/governance';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import type { CoreConfig } from '../config/env.validation';

/** Bucket reads on the request path (task timelines) should give up quickly; writes are retried by the outbox. */
const BUCKET_TIMEOUT_MS = 2000;

/** The downstream clients, each signing its calls with Core's own service token. Global: outbox handlers use them. */
@Global()
@Module({})
export class ClientsModule {
  static forRoot(config: CoreConfig): DynamicModule {
    return {
      module: ClientsModule,
      providers: [
        {
          provide: BucketClient,
          useFactory: (tokens: TokenIssuer) => new BucketClient({ baseUrl: config.BUCKET_URL, tokens, timeoutMs: BUCKET_TIMEOUT_MS }),
          inject: [TokenIssuer],
        },
        {
          provide: WorkflowExecutorClient,
          useFactory: (tokens: TokenIssuer) =>
            new WorkflowExecutorClient({ baseUrl: config.WORKFLOW_EXECUTOR_URL, tokens, timeoutMs: config.WORKFLOW_TIMEOUT * 1000 }),
          inject: [TokenIssuer],
        },
      ],
      exports: [BucketClient, WorkflowExecutorClient],
    };
  }
}
