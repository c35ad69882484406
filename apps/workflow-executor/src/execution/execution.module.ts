import { Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module';
import { ExecutionController } from './execution.controller';
import { ExecutionService } from './execution.service';

@Module({
  imports: [AdaptersModule],
  controllers: [ExecutionController],
  providers: [ExecutionService],
})
export class ExecutionModule {}
