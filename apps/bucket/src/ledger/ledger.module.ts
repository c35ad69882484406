import { Module } from '@nestjs/common';
import { BucketMetrics } from './bucket-metrics';
import { LedgerReader } from './ledger-reader';
import { LedgerService } from './ledger.service';

/** The chain itself: LedgerService is the only code that inserts into bucket_entries, LedgerReader the only one that reads it. */
@Module({
  providers: [LedgerService, LedgerReader, BucketMetrics],
  exports: [LedgerService, LedgerReader],
})
export class LedgerModule {}
