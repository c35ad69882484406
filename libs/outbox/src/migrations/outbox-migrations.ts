import { CreateOutbox1763700000000 } from './1763700000000-create-outbox';
import { OutboxOrderAndRenewableLeases1764000000000 } from './1764000000000-outbox-order-and-renewable-leases';
import { OutboxClaimFunction1764900000000 } from './1764900000000-outbox-claim-function';

/** Add to the app's DataSource `migrations` (never synchronize). */
export const OUTBOX_MIGRATIONS = [CreateOutbox1763700000000, OutboxOrderAndRenewableLeases1764000000000, OutboxClaimFunction1764900000000];
