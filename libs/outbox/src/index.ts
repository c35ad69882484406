import { OutboxDeadLetterEntity } from './outbox-dead-letter.entity';
import { OutboxEntryEntity } from './outbox-entry.entity';

export { OutboxEntryEntity, type OutboxStatus } from './outbox-entry.entity';
export { OutboxDeadLetterEntity } from './outbox-dead-letter.entity';
export { CreateOutbox1763700000000 } from './migrations/1763700000000-create-outbox';
export { OutboxOrderAndRenewableLeases1764000000000 } from './migrations/1764000000000-outbox-order-and-renewable-leases';
export { OutboxClaimFunction1764900000000 } from './migrations/1764900000000-outbox-claim-function';
export { OutboxDeliveredRetention1765000000000 } from './migrations/1765000000000-outbox-delivered-retention';
export { OutboxClaimPlannedOnce1765100000000 } from './migrations/1765100000000-outbox-claim-planned-once';
export { OutboxClaimKeyRuns1765200000000 } from './migrations/1765200000000-outbox-claim-key-runs';
export { OutboxFillfactor1765300000000 } from './migrations/1765300000000-outbox-fillfactor';
export { OutboxLeaseOnlyWhilePending1765400000000 } from './migrations/1765400000000-outbox-lease-only-while-pending';
export { batchItemsOf, messageKeysOf, OUTBOX_HANDLERS, type OutboxBatchResult, type OutboxHandler, type OutboxMessage } from './outbox-handler.interface';
export { describesRelayTimeout, OutboxDeliveryError, relayTimeoutError, toDeliveryError } from './outbox-delivery.error';
export { computeBackoffMs, type BackoffOptions } from './outbox-backoff';
export {
  decideTransition,
  FINAL_REFUSAL_PREFIX,
  outcomeFromError,
  type DeliveryOutcome,
  type OutboxTransition,
  type RetryPolicy,
} from './outbox-transition';
export { OUTBOX_OPTIONS, resolveOutboxOptions, type OutboxEnv, type OutboxOptions } from './outbox.options';
export { withOutboxConfig, type OutboxConfigFields } from './outbox-config';
export { buildOutboxStats, type OutboxStats, type OutboxTopicStats, type OutboxStatusCount } from './outbox-stats';
export { OutboxStore, type ClaimedOutboxEntry, type ClaimRequest, type DeadLetterHook, type SettledOutboxEntry } from './outbox.store';
export { PgOutboxStore } from './pg-outbox.store';
export { OutboxRelay } from './outbox-relay.service';
export { OutboxPruner } from './outbox-pruner.service';
export { OutboxService, type EnqueueInput, type OutboxStatementPart, type OwnedEnqueueInput } from './outbox.service';
export { OutboxStatsController } from './outbox-stats.controller';
export { OutboxModule, type OutboxModuleOptions } from './outbox.module';

/** Add to the app's DataSource `entities`. */
export const OUTBOX_ENTITIES = [OutboxEntryEntity, OutboxDeadLetterEntity];
export { OUTBOX_MIGRATIONS } from './migrations/outbox-migrations';
export { OutboxMetrics, recordOutboxOutcome } from './outbox-metrics';
