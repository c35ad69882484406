import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';
import { CheckpointKey } from './checkpoint-key';
import { VerifySchedule, VerifyTimer } from './verify-schedule.service';

/** Chain verification (on demand and on a timer) and signed checkpoints for auditors. */
@Module({
  imports: [LedgerModule],
  controllers: [AuditController],
  providers: [AuditService, CheckpointKey.provider(), VerifyTimer, VerifySchedule],
})
export class AuditModule {}
