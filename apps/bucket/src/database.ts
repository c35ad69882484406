import { BucketEntryEntity } from './ledger/bucket-entry.entity';
import { CreateBucketEntries1763710000000 } from './migrations/1763710000000-create-bucket-entries';

/** Bucket produces no outbox messages (it is the end of every hop), so these are its whole schema. */
export const BUCKET_ENTITIES = [BucketEntryEntity];
export const BUCKET_MIGRATIONS = [CreateBucketEntries1763710000000];

/**
 * What Bucket's runtime role may do to the chain when it serves with DATABASE_URL and migrates with
 * DATABASE_MIGRATION_URL: read and append, nothing else (it owns nothing, so no ALTER, DROP or DISABLE TRIGGER).
 */
export const BUCKET_RUNTIME_GRANTS = { bucket_entries: ['SELECT', 'INSERT'] } as const;
