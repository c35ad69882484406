import { HttpStatus } from '@nestjs/common';
import { CoreErrorCode } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';

export class TaskNotFoundException extends DomainException {
  constructor(taskId: string) {
    super(HttpStatus.NOT_FOUND, CoreErrorCode.TaskNotFound, `no task with task_id ${taskId}`);
  }
}
