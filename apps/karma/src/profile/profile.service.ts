import { Inject, Injectable } from '@nestjs/common';
import type { KarmaProfile, KarmaUserStats, QTableView } from '@pancha/contracts';
import { Clock } from '../clock/clock';
import { KarmaEngine } from '../engine/karma-engine';
import { KarmaLedgerService } from '../ledger/karma-ledger.service';
import { qTableView } from '../model/profile-view';

/** Read side: everything is computed from the ledger (and the Q-table) as of the clock's now. */
@Injectable()
export class ProfileService {
  constructor(
    @Inject(KarmaEngine) private readonly engine: KarmaEngine,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(KarmaLedgerService) private readonly ledger: KarmaLedgerService,
  ) {}

  async profile(userId: string): Promise<KarmaProfile> {
    return this.engine.profile(this.ledger.reader(), userId, this.clock.now().getTime(), false);
  }

  async stats(userId: string): Promise<KarmaUserStats> {
    return (await this.engine.profile(this.ledger.reader(), userId, this.clock.now().getTime(), true)) as KarmaUserStats;
  }

  async qTable(): Promise<QTableView> {
    return qTableView(this.engine.config, await this.ledger.reader().qTable());
  }
}
