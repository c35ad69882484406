import { Body, Controller, HttpCode, HttpStatus, Post, Res } from '@nestjs/common';
import {
  EXECUTOR_EXECUTE_BATCH_ROUTE,
  type EventBatchItem,
  type EventBatchReply,
  ExecuteWorkflowRequestDto,
} from '@pancha/contracts';
import { RequireOperation } from '@pancha/governance';
import { answerEachItem, BatchEvents, keepAsSent } from '@pancha/service-kit';
import type { Response } from 'express';
import { ExecutionService, type ExecuteReply } from './execution.service';

// The action's payload is open (each adapter reads its own fields): executed and recorded as sent, whatever its
// members are named (__proto__, constructor, prototype too), on the single and the batch route.
keepAsSent(ExecuteWorkflowRequestDto, 'data.payload');

@Controller()
export class ExecutionController {
  constructor(private readonly executions: ExecutionService) {}

  /**
   * Executes the action of a `workflow` decision once per trace_id. The 400 for a missing payload keeps the
   * original service's `{ trace_id, status, reason }` body, which clients of it depend on (SPEC §2).
   */
  @Post('api/workflow/execute')
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

  /**
   * The batch twin of POST /api/workflow/execute (Core's outbox relay sends its claimed dispatches here): the same
   * token and `execute` operation; each request validated and executed as the single route would, concurrently, in
   * the trace its item carries; 200 with one outcome (status + body) per request, in order.
   */
  @Post(EXECUTOR_EXECUTE_BATCH_ROUTE.slice(1))
  @HttpCode(HttpStatus.OK)
  @RequireOperation('execute')
  async executeBatch(
    @BatchEvents() events: EventBatchItem[],
  ): Promise<EventBatchReply<ExecuteReply['body']>> {
    const results = await answerEachItem(events, ExecuteWorkflowRequestDto, 'workflow execute', async (body) => {
      const reply = await this.executions.execute(body);
      return { status: reply.httpStatus, body: reply.body };
    });
    return { results };
  }
}
