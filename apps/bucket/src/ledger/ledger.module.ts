import { Module } from '@nestjs/common';
import { LedgerService } from './ledger.service';

/** The chain itself: the only code that inserts into bucket_entries. */
@Module({
  providers: [LedgerService],
  exports: [LedgerService],
})
export class LedgerModule {}
