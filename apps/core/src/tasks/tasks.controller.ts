import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Res } from '@nestjs/common';
import { type CoreTaskView, type HandleTaskAccepted, HandleTaskRequestDto, type HandleTasksAccepted, HandleTasksRequestDto } from '@pancha/contracts';
import { ClaimTokenWithWrite, RequireCredential, RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import { checkedIdempotencyKey, QueryParameters, validationException } from '@pancha/service-kit';
import type { Response } from 'express';
import { TasksService } from './tasks.service';

const taskIdPipe = new ParseUUIDPipe({
  exceptionFactory: () => validationException([{ field: 'task_id', messages: ['task_id must be a UUID'] }]),
});

@Controller()
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  /**
   * 202 as soon as the task and its outbox messages are committed; the workflow runs afterwards. With an
   * `Idempotency-Key`, a retry (same requester, same key, same body) gets the first 202 again and creates
   * nothing (header `idempotent-replay: true`); the same key with another body is a 409. A caller's token is
   * claimed in the commit that stores the task, not in one of its own before it (401 token_replayed if already used).
   */
  @Post('handle_task')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('submit')
  @ClaimTokenWithWrite()
  async handleTask(
    @Body() body: HandleTaskRequestDto,
    @Requester() requester: VerifiedRequester,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<HandleTaskAccepted> {
    const { reply, replayed } = await this.tasks.handle(body, requester, checkedIdempotencyKey(idempotencyKey));
    if (replayed) res.setHeader('idempotent-replay', 'true');
    return reply;
  }

  /**
   * Up to 100 tasks in one request, each decided and stored as POST /handle_task would, all in one commit: 202 with
   * their answers in order, or one 4xx and nothing stored (a bad task is a 422 naming it: `tasks.3.user_id`). Each
   * task gets a trace of its own. Needs a credential: the anonymous budget counts requests, not tasks.
   */
  @Post('handle_tasks')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('submit')
  @RequireCredential()
  @ClaimTokenWithWrite()
  async handleTasks(
    @Body() body: HandleTasksRequestDto,
    @Requester() requester: VerifiedRequester,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<HandleTasksAccepted> {
    const { reply, replayed } = await this.tasks.handleMany(body, requester, checkedIdempotencyKey(idempotencyKey));
    if (replayed) res.setHeader('idempotent-replay', 'true');
    return reply;
  }

  /**
   * The task if the caller's products allow it (a product-less task is open to every reader), else 404. It takes no
   * query parameter: any is a 400 naming it.
   */
  @Get('tasks/:task_id')
  @RequireOperation('read')
  @QueryParameters([])
  task(@Param('task_id', taskIdPipe) taskId: string, @Requester() requester: VerifiedRequester): Promise<CoreTaskView> {
    return this.tasks.view(taskId, requester);
  }
}
