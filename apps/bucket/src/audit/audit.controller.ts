import { Controller, Get, Query } from '@nestjs/common';
import { AUDIT_VERIFY_QUERY_PARAMETERS, AuditVerifyQueryDto } from '@pancha/contracts';
import type { AuditVerifyResult, SignedCheckpoint } from '@pancha/contracts';
import { Requester, RequireOperation } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { QueryParameters } from '@pancha/service-kit';
import { ProductScope } from '../common/product-scope';
import { AuditService } from './audit.service';

/**
 * Whole-chain views: for readers that see every product (a product-scoped reader learns nothing of others). A query
 * parameter a route does not define is a 400 naming it, a repeated one a 422: `?ful=true` is no full verification.
 */
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get('verify')
  @RequireOperation('read')
  @QueryParameters(AUDIT_VERIFY_QUERY_PARAMETERS)
  verify(@Query() query: AuditVerifyQueryDto, @Requester() requester: VerifiedRequester): Promise<AuditVerifyResult> {
    ProductScope.of(requester).assertWholeChain();
    return this.audit.verify({ full: query.full });
  }

  @Get('checkpoint')
  @RequireOperation('read')
  @QueryParameters([])
  checkpoint(@Requester() requester: VerifiedRequester): Promise<SignedCheckpoint> {
    ProductScope.of(requester).assertWholeChain();
    return this.audit.checkpoint();
  }
}
