import { OUTBOX_ENTITIES, OUTBOX_MIGRATIONS } from '@pancha/outbox';
import { KarmaEventEntity } from './ledger/karma-event.entity';
import { LedgerEntryEntity } from './ledger/ledger-entry.entity';
import { QValueEntity } from './ledger/q-value.entity';
import { CreateKarmaLedger1763900000000 } from './migrations/1763900000000-create-karma-ledger';
import { KarmaEventReplyAsSent1765400000000 } from './migrations/1765400000000-karma-event-reply-as-sent';
import { KarmaPublishedRole1765900000000 } from './migrations/1765900000000-karma-published-role';
import { KarmaRoleSweep1766000000000 } from './migrations/1766000000000-karma-role-sweep';
import { KarmaRoleSweepClaim1766100000000 } from './migrations/1766100000000-karma-role-sweep-claim';

/** The karma database's schema, listed once for Nest (app.module.ts) and the TypeORM CLI (data-source.ts). */
export const KARMA_ENTITIES = [KarmaEventEntity, LedgerEntryEntity, QValueEntity, ...OUTBOX_ENTITIES];
// The outbox (libs/outbox) carries `karma.role_changed` to Core's event router.
export const KARMA_MIGRATIONS = [
  CreateKarmaLedger1763900000000,
  KarmaEventReplyAsSent1765400000000,
  KarmaPublishedRole1765900000000,
  KarmaRoleSweep1766000000000,
  KarmaRoleSweepClaim1766100000000,
  ...OUTBOX_MIGRATIONS,
];
