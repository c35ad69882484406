import { BucketEntryEntity } from './ledger/bucket-entry.entity';
import { CreateBucketEntries1763710000000 } from './migrations/1763710000000-create-bucket-entries';

/** Bucket produces no outbox messages (it is the end of every hop), so these are its whole schema. */
export const BUCKET_ENTITIES = [BucketEntryEntity];
export const BUCKET_MIGRATIONS = [CreateBucketEntries1763710000000];
