import { Body, Controller, HttpCode, Post, Res } from '@nestjs/common';
import { ExecuteWorkflowRequestDto } from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import type { Response } from 'express';
import { ExecutionService, type ExecuteReply } from './execution.service';

@Controller('api/workflow')
export class ExecutionController {
  constructor(private readonly executions: ExecutionService) {}

  /**
   * Executes the action of a `workflow` decision once per trace_id. The 400 for a missing payload keeps the
   * original service's `{ trace_id, status, reason }` body, which clients of it depend on (SPEC §2).
   */
  @Post('execute')
  @HttpCode(200)
  @RequireOperation('execute')
  async execute(
    @Body() body: ExecuteWorkflowRequestDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ExecuteReply['body']> {
    const reply = await this.executions.execute(body);
    res.status(reply.httpStatus);
    return reply.body;
  }
}
