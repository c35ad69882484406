import { DynamicModule, Module } from '@nestjs/common';
import { Clock } from '../clock/clock';
import type { KarmaModelConfig } from '../config/karma-config';
import { KarmaEngine } from '../engine/karma-engine';
import { DEFAULT_LEDGER_OPTIONS, KarmaLedgerService, LEDGER_OPTIONS, type LedgerOptions } from './karma-ledger.service';
import { KarmaRoleSweep, RoleSweepTimer } from './role-sweep.service';

/**
 * The model (configuration + engine), the clock and the ledger's storage, shared by the event and profile features;
 * and the role sweep, which publishes the role changes time makes.
 */
@Module({})
export class LedgerModule {
  static forRoot(model: KarmaModelConfig, options: LedgerOptions = DEFAULT_LEDGER_OPTIONS): DynamicModule {
    return {
      module: LedgerModule,
      global: true,
      providers: [
        { provide: KarmaEngine, useValue: new KarmaEngine(model, { publishRoleChanges: options.routerEvents }) },
        { provide: LEDGER_OPTIONS, useValue: options },
        Clock,
        KarmaLedgerService,
        RoleSweepTimer,
        KarmaRoleSweep,
      ],
      exports: [KarmaEngine, Clock, KarmaLedgerService, KarmaRoleSweep],
    };
  }
}
