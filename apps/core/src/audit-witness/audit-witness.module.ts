import { Module } from '@nestjs/common';
import { AuditWitnessController } from './audit-witness.controller';
import { AuditWitnessService } from './audit-witness.service';

/** Core keeps Bucket's signed checkpoints in its own database and verifies the chain against the latest one. */
@Module({
  controllers: [AuditWitnessController],
  providers: [AuditWitnessService],
  exports: [AuditWitnessService],
})
export class AuditWitnessModule {}
