import { Module } from '@nestjs/common';
import { ActionRunner } from './action-runner.service';
import { AiAdapter } from './ai.adapter';
import { EmailAdapter } from './email.adapter';
import { TaskAdapter } from './task.adapter';
import { WhatsappAdapter } from './whatsapp.adapter';

@Module({
  providers: [TaskAdapter, EmailAdapter, WhatsappAdapter, AiAdapter, ActionRunner],
  exports: [ActionRunner, TaskAdapter, EmailAdapter, WhatsappAdapter, AiAdapter],
})
export class AdaptersModule {}
