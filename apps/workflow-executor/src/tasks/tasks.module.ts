import { Module } from '@nestjs/common';
import { TasksController } from './tasks.controller';
import { TasksService } from './tasks.service';

/** Read side of the `task` adapter's rows (the adapter itself writes them inside the execution transaction). */
@Module({
  controllers: [TasksController],
  providers: [TasksService],
})
export class TasksModule {}
