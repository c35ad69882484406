import { Controller, Get, Query } from '@nestjs/common';
import type { TaskListResponse } from '@pancha/contracts';
import { productFilter, RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import { QueryParameters } from '@pancha/service-kit';
import { ListTasksQuery } from './dto/list-tasks.query';
import { TasksService } from './tasks.service';

/** GET /api/tasks's query parameters: every field of ListTasksQuery (a field added there and not here fails to compile). */
const LIST_TASKS_FIELDS: Record<keyof ListTasksQuery, true> = { user_id: true, limit: true };
const LIST_TASKS_PARAMETERS: readonly string[] = Object.keys(LIST_TASKS_FIELDS);

@Controller('api/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  /**
   * The task adapter's rows the caller's products allow (its token's `products` claim narrows the policy's). A query
   * parameter it does not define is a 400 naming it (`?user=nobody` would have answered every user's tasks), a
   * repeated one a 422.
   */
  @Get()
  @RequireOperation('read')
  @QueryParameters(LIST_TASKS_PARAMETERS, { user: 'the user filter is user_id' })
  async list(@Query() query: ListTasksQuery, @Requester() requester: VerifiedRequester): Promise<TaskListResponse> {
    return { tasks: await this.tasks.list({ userId: query.user_id, limit: query.limit, products: productFilter(requester) }) };
  }
}
