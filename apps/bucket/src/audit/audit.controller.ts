import { Controller, Get } from '@nestjs/common';
import type { AuditVerifyResult, SignedCheckpoint } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { AuditService } from './audit.service';

@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get('verify')
  @RequireOperation('read')
  verify(): Promise<AuditVerifyResult> {
    return this.audit.verify();
  }

  @Get('checkpoint')
  @RequireOperation('read')
  checkpoint(): Promise<SignedCheckpoint> {
    return this.audit.checkpoint();
  }
}
