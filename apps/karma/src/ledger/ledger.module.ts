import { DynamicModule, Module } from '@nestjs/common';
import { Clock } from '../clock/clock';
import type { KarmaModelConfig } from '../config/karma-config';
import { KarmaEngine } from '../engine/karma-engine';
import { KarmaLedgerService, LEDGER_OPTIONS, type LedgerOptions } from './karma-ledger.service';

/** The model (configuration + engine), the clock and the ledger's storage, shared by the event and profile features. */
@Module({})
export class LedgerModule {
  static forRoot(model: KarmaModelConfig, options: LedgerOptions = { routerEvents: true }): DynamicModule {
    return {
      module: LedgerModule,
      global: true,
      providers: [
        { provide: KarmaEngine, useValue: new KarmaEngine(model) },
        { provide: LEDGER_OPTIONS, useValue: options },
        Clock,
        KarmaLedgerService,
      ],
      exports: [KarmaEngine, Clock, KarmaLedgerService],
    };
  }
}
