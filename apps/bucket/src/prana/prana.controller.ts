import { Body, Controller, Get, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import { PRANA_USER_QUERY_PARAMETERS, PranaIngestDto, PranaUserQueryDto } from '@pancha/contracts';
import type { PranaIngestResult, PranaUserPackets } from '@pancha/contracts';
import { Requester, RequireOperation } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { QueryParameters } from '@pancha/service-kit';
import type { Response } from 'express';
import { PranaService } from './prana.service';

/** PRANA focus telemetry: packets in, per-user history out. */
@Controller('bucket/prana')
export class PranaController {
  constructor(private readonly prana: PranaService) {}

  @Post('ingest')
  @RequireOperation('write')
  async ingest(
    @Body() body: PranaIngestDto,
    @Requester() requester: VerifiedRequester,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PranaIngestResult> {
    const result = await this.prana.ingest(body.packets, requester);
    // Like write-event: 201 when something new was recorded, 200 when the whole batch was already known (a batch
    // with only conflicts is a 409 error body, thrown by the service).
    res.status(result.accepted > 0 ? HttpStatus.CREATED : HttpStatus.OK);
    return result;
  }

  /** The user's latest packets: `limit` only (any other query parameter is a 400 naming it, a repeated one a 422). */
  @Get('user/:user_id')
  @RequireOperation('read')
  @QueryParameters(PRANA_USER_QUERY_PARAMETERS)
  user(
    @Param('user_id') userId: string,
    @Query() query: PranaUserQueryDto,
    @Requester() requester: VerifiedRequester,
  ): Promise<PranaUserPackets> {
    return this.prana.user(userId, query.limit, requester);
  }
}
