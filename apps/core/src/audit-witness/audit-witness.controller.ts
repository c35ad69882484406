import { Controller, Get, Query } from '@nestjs/common';
import { AuditVerifyQueryDto } from '@pancha/contracts';
import type { WitnessedVerifyResult } from '@pancha/contracts';
import { forbidden, productFilter, Requester, RequireOperation } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { AuditWitnessService } from './audit-witness.service';

@Controller('audit')
export class AuditWitnessController {
  constructor(private readonly witness: AuditWitnessService) {}

  /** Bucket's chain verified against the latest checkpoint Core witnessed; the whole chain, so every product's readers only. */
  @Get('verify')
  @RequireOperation('read')
  verify(@Query() query: AuditVerifyQueryDto, @Requester() requester: VerifiedRequester): Promise<WitnessedVerifyResult> {
    if (productFilter(requester) !== undefined) throw forbidden('the audit of the whole chain needs a credential that sees every product');
    return this.witness.verify({ full: query.full });
  }
}
