export { BucketClient, type EventsQuery } from './bucket.client';
export { checkpointSigningBytes, verifyCheckpoint } from './verify-checkpoint';
