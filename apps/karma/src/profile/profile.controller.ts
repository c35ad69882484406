import { Controller, Get, Inject, Param } from '@nestjs/common';
import type { KarmaProfile, KarmaUserStats, QTableView } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { ProfileService } from './profile.service';

@Controller()
export class ProfileController {
  constructor(@Inject(ProfileService) private readonly profiles: ProfileService) {}

  @Get('api/v1/karma/:user_id')
  @RequireOperation('read')
  profile(@Param('user_id') userId: string): Promise<KarmaProfile> {
    return this.profiles.profile(userId);
  }

  @Get('v1/stats/user/:user_id')
  @RequireOperation('read')
  stats(@Param('user_id') userId: string): Promise<KarmaUserStats> {
    return this.profiles.stats(userId);
  }

  @Get('v1/q-table')
  @RequireOperation('read')
  qTable(): Promise<QTableView> {
    return this.profiles.qTable();
  }
}
