import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module';
import { PranaController } from './prana.controller';
import { PranaService } from './prana.service';

@Module({
  imports: [LedgerModule],
  controllers: [PranaController],
  providers: [PranaService],
})
export class PranaModule {}
