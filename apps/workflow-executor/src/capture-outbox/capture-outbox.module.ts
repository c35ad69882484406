import { Module } from '@nestjs/common';
import { CaptureOutboxController } from './capture-outbox.controller';
import { CaptureOutboxService } from './capture-outbox.service';

@Module({
  controllers: [CaptureOutboxController],
  providers: [CaptureOutboxService],
})
export class CaptureOutboxModule {}
