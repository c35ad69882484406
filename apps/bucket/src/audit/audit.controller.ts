import { Controller, Get, Query } from '@nestjs/common';
import { AuditVerifyQueryDto } from '@pancha/contracts';
import type { AuditVerifyResult, SignedCheckpoint } from '@pancha/contracts';
import { Requester, RequireOperation } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { ProductScope } from '../common/product-scope';
import { AuditService } from './audit.service';

/** Whole-chain views: for readers that see every product (a product-scoped reader learns nothing of others). */
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get('verify')
  @RequireOperation('read')
  verify(@Query() query: AuditVerifyQueryDto, @Requester() requester: VerifiedRequester): Promise<AuditVerifyResult> {
    ProductScope.of(requester).assertWholeChain();
    return this.audit.verify({ full: query.full });
  }

  @Get('checkpoint')
  @RequireOperation('read')
  checkpoint(@Requester() requester: VerifiedRequester): Promise<SignedCheckpoint> {
    ProductScope.of(requester).assertWholeChain();
    return this.audit.checkpoint();
  }
}
