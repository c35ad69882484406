import { Body, Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { type CoreTaskView, type HandleTaskAccepted, HandleTaskRequestDto } from '@pancha/contracts';
import { Requester, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { validationException } from '@pancha/service-kit';
import { TasksService } from './tasks.service';

const taskIdPipe = new ParseUUIDPipe({
  exceptionFactory: () => validationException([{ field: 'task_id', messages: ['task_id must be a UUID'] }]),
});

@Controller()
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  /** 202 as soon as the task and its outbox messages are committed; the workflow runs afterwards. */
  @Post('handle_task')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireOperation('submit')
  handleTask(@Body() body: HandleTaskRequestDto, @Requester() requester: VerifiedRequester): Promise<HandleTaskAccepted> {
    return this.tasks.handle(body, requester);
  }

  @Get('tasks/:task_id')
  @RequireOperation('read')
  task(@Param('task_id', taskIdPipe) taskId: string): Promise<CoreTaskView> {
    return this.tasks.view(taskId);
  }
}
