import { Decision, type ExecuteWorkflowRequestDto } from '@pancha/contracts';
import type { OutboxService } from '@pancha/outbox';
import type { DataSource } from 'typeorm';
import type { ActionRunner } from '../adapters/action-runner.service';
import { testConfig } from '../config/test-config';
import { ExecutionInProgressException } from './execution.exception';
import { ExecutionService } from './execution.service';

function service() {
  const dataSource = { query: jest.fn(), transaction: jest.fn(), driver: {} };
  // The claim runs on a connection the service holds from the pool (GenericPlanConnection): its statements reach the
  // same mock, so each test scripts every statement in order.
  const client = {
    query: async (text: string, params?: unknown[]) => ({ rows: text.startsWith('SET ') ? [] : await dataSource.query(text, params) }),
    on: () => client,
    release: () => undefined,
  };
  dataSource.driver = { master: { connect: async () => client } };
  const runner = { run: jest.fn() };
  const outbox = { enqueue: jest.fn() };
  const svc = new ExecutionService(dataSource as unknown as DataSource, runner as unknown as ActionRunner, outbox as unknown as OutboxService, testConfig());
  return { svc, dataSource, runner, outbox };
}

const request = (decision: Decision, data?: ExecuteWorkflowRequestDto['data']): ExecuteWorkflowRequestDto =>
  ({ trace_id: 'trace-9', decision, data }) as ExecuteWorkflowRequestDto;

describe('ExecutionService decision handling', () => {
  it.each([Decision.Respond, Decision.Task, Decision.Insight, Decision.Fallback])('%s is skipped without touching the database or an adapter', async (decision) => {
    const { svc, dataSource, runner } = service();
    await expect(svc.execute(request(decision, { payload: { action_type: 'task', title: 't' } }))).resolves.toEqual({
      httpStatus: 200,
      body: { trace_id: 'trace-9', status: 'skipped', reason: 'decision_not_workflow' },
    });
    expect(dataSource.query).not.toHaveBeenCalled();
    expect(runner.run).not.toHaveBeenCalled();
  });

  it.each([undefined, {}, { workflow_type: 'workflow' as const }])('workflow without payload (data=%j) is a 400 and stores nothing', async (data) => {
    const { svc, dataSource, runner } = service();
    await expect(svc.execute(request(Decision.Workflow, data))).resolves.toEqual({
      httpStatus: 400,
      body: { trace_id: 'trace-9', status: 'failed', reason: 'missing_workflow_payload' },
    });
    expect(dataSource.query).not.toHaveBeenCalled();
    expect(runner.run).not.toHaveBeenCalled();
  });

  it('a workflow whose trace_id is already claimed and finished replays the stored result without running an adapter', async () => {
    const { svc, dataSource, runner } = service();
    const stored = { success: true, task_id: 'abc' };
    dataSource.query.mockResolvedValueOnce([]).mockResolvedValueOnce([{ status: 'success', result: stored, expired: false }]);
    await expect(svc.execute(request(Decision.Workflow, { payload: { action_type: 'task', title: 't' } }))).resolves.toEqual({
      httpStatus: 200,
      body: { trace_id: 'trace-9', status: 'success', execution_result: stored },
    });
    expect(runner.run).not.toHaveBeenCalled();
  });

  it('a claimed trace_id still running within its lease is a 409 execution_in_progress', async () => {
    const { svc, dataSource } = service();
    dataSource.query.mockResolvedValueOnce([]).mockResolvedValueOnce([{ status: 'running', result: null, expired: false }]);
    const error = await svc.execute(request(Decision.Workflow, { payload: { action_type: 'task', title: 't' } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionInProgressException);
    expect((error as ExecutionInProgressException).getStatus()).toBe(409);
    expect((error as ExecutionInProgressException).code).toBe('execution_in_progress');
  });
});
