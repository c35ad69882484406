import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { KARMA_HISTORY_QUERY_PARAMETERS, type KarmaHistory, type KarmaLedgerHead, type KarmaProfile, type KarmaUserStats, type QTableView } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { QueryParameters } from '@pancha/service-kit';
import { HistoryService, type HistoryQuery } from './history.service';
import { ProfileService } from './profile.service';
import { UserIdPipe } from './user-id.pipe';

/**
 * Karma's reads. Each answers a query parameter it does not define with a 400 naming it and a repeated one with a 422
 * (@QueryParameters): ignored, `?buckets=hour` would have answered days as if hours.
 */
@Controller()
export class ProfileController {
  constructor(
    @Inject(ProfileService) private readonly profiles: ProfileService,
    @Inject(HistoryService) private readonly histories: HistoryService,
  ) {}

  @Get('api/v1/karma/:user_id')
  @RequireOperation('read')
  @QueryParameters([])
  profile(@Param('user_id', UserIdPipe) userId: string): Promise<KarmaProfile> {
    return this.profiles.profile(userId);
  }

  /** The ledger over time: merit, paap and net per hour or day bucket (KarmaHistory). */
  @Get('v1/karma/:user_id/history')
  @RequireOperation('read')
  @QueryParameters(KARMA_HISTORY_QUERY_PARAMETERS, { window: 'the range is since and until' })
  history(@Param('user_id', UserIdPipe) userId: string, @Query() query: HistoryQuery): Promise<KarmaHistory> {
    return this.histories.history(userId, query);
  }

  /** Where the user's ledger stands (count, newest seq): a cheap change marker for PRANA's live karma view. */
  @Get('v1/karma/:user_id/head')
  @RequireOperation('read')
  @QueryParameters([])
  head(@Param('user_id', UserIdPipe) userId: string): Promise<KarmaLedgerHead> {
    return this.histories.head(userId);
  }

  @Get('v1/stats/user/:user_id')
  @RequireOperation('read')
  @QueryParameters([])
  stats(@Param('user_id', UserIdPipe) userId: string): Promise<KarmaUserStats> {
    return this.profiles.stats(userId);
  }

  @Get('v1/q-table')
  @RequireOperation('read')
  @QueryParameters([])
  qTable(): Promise<QTableView> {
    return this.profiles.qTable();
  }
}
