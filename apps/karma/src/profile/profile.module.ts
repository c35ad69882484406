import { Module } from '@nestjs/common';
import { ProfileController } from './profile.controller';
import { HistoryService } from './history.service';
import { ProfileService } from './profile.service';

@Module({ controllers: [ProfileController], providers: [ProfileService, HistoryService] })
export class ProfileModule {}
