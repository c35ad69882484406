import { Controller, Get, Query } from '@nestjs/common';
import type { TaskListResponse } from '@pancha/contracts';
import { productFilter, RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import { ListTasksQuery } from './dto/list-tasks.query';
import { TasksService } from './tasks.service';

@Controller('api/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  /** The task adapter's rows the caller's products allow (its token's `products` claim narrows the policy's). */
  @Get()
  @RequireOperation('read')
  async list(@Query() query: ListTasksQuery, @Requester() requester: VerifiedRequester): Promise<TaskListResponse> {
    return { tasks: await this.tasks.list({ userId: query.user_id, limit: query.limit, products: productFilter(requester) }) };
  }
}
