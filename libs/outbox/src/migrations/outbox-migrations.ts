import { CreateOutbox1763700000000 } from './1763700000000-create-outbox';
import { OutboxOrderAndRenewableLeases1764000000000 } from './1764000000000-outbox-order-and-renewable-leases';
import { OutboxClaimFunction1764900000000 } from './1764900000000-outbox-claim-function';
import { OutboxDeliveredRetention1765000000000 } from './1765000000000-outbox-delivered-retention';
import { OutboxClaimPlannedOnce1765100000000 } from './1765100000000-outbox-claim-planned-once';
import { OutboxClaimKeyRuns1765200000000 } from './1765200000000-outbox-claim-key-runs';
import { OutboxFillfactor1765300000000 } from './1765300000000-outbox-fillfactor';
import { OutboxLeaseOnlyWhilePending1765400000000 } from './1765400000000-outbox-lease-only-while-pending';

/** Add to the app's DataSource `migrations` (never synchronize). */
export const OUTBOX_MIGRATIONS = [
  CreateOutbox1763700000000,
  OutboxOrderAndRenewableLeases1764000000000,
  OutboxClaimFunction1764900000000,
  OutboxDeliveredRetention1765000000000,
  OutboxClaimPlannedOnce1765100000000,
  OutboxClaimKeyRuns1765200000000,
  OutboxFillfactor1765300000000,
  OutboxLeaseOnlyWhilePending1765400000000,
];
