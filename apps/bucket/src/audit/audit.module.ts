import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';
import { CheckpointKey } from './checkpoint-key';

/** Chain verification and signed checkpoints for auditors. */
@Module({
  controllers: [AuditController],
  providers: [AuditService, CheckpointKey.provider()],
})
export class AuditModule {}
