import { Controller, Get, HttpStatus, Query } from '@nestjs/common';
import { AUDIT_VERIFY_QUERY_PARAMETERS, AuditVerifyQueryDto, CommonErrorCode } from '@pancha/contracts';
import type { WitnessedVerifyResult } from '@pancha/contracts';
import { forbidden, productFilter, Requester, RequireOperation } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { ServiceCallError } from '@pancha/http-client';
import { DomainException, QueryParameters } from '@pancha/service-kit';
import { AuditWitnessService, CheckpointSignatureError } from './audit-witness.service';

@Controller('audit')
export class AuditWitnessController {
  constructor(private readonly witness: AuditWitnessService) {}

  /** Bucket's chain verified against the latest checkpoint Core witnessed; the whole chain, so every product's readers only. */
  @Get('verify')
  @RequireOperation('read')
  @QueryParameters(AUDIT_VERIFY_QUERY_PARAMETERS)
  verify(@Query() query: AuditVerifyQueryDto, @Requester() requester: VerifiedRequester): Promise<WitnessedVerifyResult> {
    if (productFilter(requester) !== undefined) throw forbidden('the audit of the whole chain needs a credential that sees every product');
    return this.witness.verify({ full: query.full }).catch((error: unknown) => {
      // Without Bucket (or with a checkpoint its pinned key did not sign) there is no verdict to give: 503, not a 500.
      if (error instanceof ServiceCallError || error instanceof CheckpointSignatureError) {
        throw new DomainException(HttpStatus.SERVICE_UNAVAILABLE, CommonErrorCode.DependencyUnavailable, `audit not possible: ${error.message}`);
      }
      throw error;
    });
  }
}
