import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import type { KarmaHistory, KarmaLedgerHead, KarmaProfile, KarmaUserStats, QTableView } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { HistoryService, type HistoryQuery } from './history.service';
import { ProfileService } from './profile.service';
import { UserIdPipe } from './user-id.pipe';

@Controller()
export class ProfileController {
  constructor(
    @Inject(ProfileService) private readonly profiles: ProfileService,
    @Inject(HistoryService) private readonly histories: HistoryService,
  ) {}

  @Get('api/v1/karma/:user_id')
  @RequireOperation('read')
  profile(@Param('user_id', UserIdPipe) userId: string): Promise<KarmaProfile> {
    return this.profiles.profile(userId);
  }

  /** The ledger over time: merit, paap and net per hour or day bucket (KarmaHistory). */
  @Get('v1/karma/:user_id/history')
  @RequireOperation('read')
  history(@Param('user_id', UserIdPipe) userId: string, @Query() query: HistoryQuery): Promise<KarmaHistory> {
    return this.histories.history(userId, query);
  }

  /** Where the user's ledger stands (count, newest seq): a cheap change marker for PRANA's live karma view. */
  @Get('v1/karma/:user_id/head')
  @RequireOperation('read')
  head(@Param('user_id', UserIdPipe) userId: string): Promise<KarmaLedgerHead> {
    return this.histories.head(userId);
  }

  @Get('v1/stats/user/:user_id')
  @RequireOperation('read')
  stats(@Param('user_id', UserIdPipe) userId: string): Promise<KarmaUserStats> {
    return this.profiles.stats(userId);
  }

  @Get('v1/q-table')
  @RequireOperation('read')
  qTable(): Promise<QTableView> {
    return this.profiles.qTable();
  }
}
