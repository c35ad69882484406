import { OUTBOX_ENTITIES, OUTBOX_MIGRATIONS } from '@pancha/outbox';
import { BucketEntryEntity } from './ledger/bucket-entry.entity';
import { CreateBucketEntries1763710000000 } from './migrations/1763710000000-create-bucket-entries';

/**
 * The chain, and the outbox (libs/outbox) that carries `audit.verify_failed` to Core's event router: a table of its
 * own, outside the append-only chain (which keeps its triggers and its SELECT/INSERT-only runtime grant).
 */
export const BUCKET_ENTITIES = [BucketEntryEntity, ...OUTBOX_ENTITIES];
export const BUCKET_MIGRATIONS = [CreateBucketEntries1763710000000, ...OUTBOX_MIGRATIONS];

/**
 * What Bucket's runtime role may do to the chain when it serves with DATABASE_URL and migrates with
 * DATABASE_MIGRATION_URL: read and append, nothing else (it owns nothing, so no ALTER, DROP or DISABLE TRIGGER).
 */
export const BUCKET_RUNTIME_GRANTS = { bucket_entries: ['SELECT', 'INSERT'] } as const;
