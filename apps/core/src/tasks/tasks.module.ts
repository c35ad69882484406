import { type DynamicModule, Module } from '@nestjs/common';
import { AgentModule } from '../agent/agent.module';
import { WorkflowsModule } from '../workflows/workflows.module';
import type { CoreConfig } from '../config/env.validation';
import { TasksController } from './tasks.controller';
import { TasksService } from './tasks.service';
import { TaskAcceptWriter } from './task-accept.writer';

/** POST /handle_task and GET /tasks/:task_id. Its outbox handlers are registered by AppModule. */
@Module({})
export class TasksModule {
  static forRoot(config: CoreConfig): DynamicModule {
    return {
      module: TasksModule,
      imports: [AgentModule.forRoot(config), WorkflowsModule],
      controllers: [TasksController],
      providers: [TasksService, TaskAcceptWriter],
    };
  }
}
