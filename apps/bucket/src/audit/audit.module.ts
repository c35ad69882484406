import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';
import { CheckpointKey } from './checkpoint-key';

/** Chain verification and signed checkpoints for auditors. */
@Module({
  imports: [LedgerModule],
  controllers: [AuditController],
  providers: [AuditService, CheckpointKey.provider()],
})
export class AuditModule {}
