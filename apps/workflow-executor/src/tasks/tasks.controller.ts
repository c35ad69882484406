import { Controller, Get, Query } from '@nestjs/common';
import type { TaskListResponse } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { ListTasksQuery } from './dto/list-tasks.query';
import { TasksService } from './tasks.service';

@Controller('api/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @Get()
  @RequireOperation('read')
  async list(@Query() query: ListTasksQuery): Promise<TaskListResponse> {
    return { tasks: await this.tasks.list({ userId: query.user_id, limit: query.limit }) };
  }
}
