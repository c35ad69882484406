import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { ExecuteWorkflowRequestDto } from './execute-workflow.dto';

function fieldPaths(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((e) => {
    const path = parent ? `${parent}.${e.property}` : e.property;
    return [...(e.constraints ? [path] : []), ...fieldPaths(e.children ?? [], path)];
  });
}

function problems(body: unknown): string[] {
  return fieldPaths(validateSync(plainToInstance(ExecuteWorkflowRequestDto, body), { whitelist: true }));
}

describe('ExecuteWorkflowRequestDto', () => {
  it('refuses ids Karma and Bucket could never record (they would be dead-lettered after a 200)', () => {
    const payload = (extra: object) => ({ trace_id: 't', decision: 'workflow', data: { workflow_type: 'workflow', payload: { action_type: 'task', title: 'x', ...extra } } });
    expect(problems(payload({ user_id: 'u'.repeat(129) }))).toEqual(['data.payload']);
    expect(problems(payload({ product: 'p'.repeat(129) }))).toEqual(['data.payload']);
    expect(problems(payload({ user_id: 'u'.repeat(128), product: 'p'.repeat(128) }))).toEqual([]);
  });

  it('refuses an action_type longer than 64 characters (it travels to Karma inside the life event\'s context)', () => {
    const payload = (action_type: string) => ({ trace_id: 't', decision: 'workflow', data: { payload: { action_type } } });
    expect(problems(payload('x'.repeat(65)))).toEqual(['data.payload']);
    expect(problems(payload('x'.repeat(64)))).toEqual([]);
  });

  it('accepts every decision, with or without data', () => {
    for (const decision of ['respond', 'task', 'workflow', 'insight', 'fallback']) {
      expect(problems({ trace_id: 't', decision })).toEqual([]);
    }
  });

  it('accepts an open payload whose action_type is missing or unknown (those are execution failures)', () => {
    expect(problems({ trace_id: 't', decision: 'workflow', data: { workflow_type: 'workflow', payload: {} } })).toEqual([]);
    expect(problems({ trace_id: 't', decision: 'workflow', data: { payload: { action_type: 'teleport', anything: [1] } } })).toEqual([]);
  });

  it('keeps adapter fields through whitelisting', () => {
    const dto = plainToInstance(ExecuteWorkflowRequestDto, {
      trace_id: 't',
      decision: 'workflow',
      data: { payload: { action_type: 'email', recipient: 'a@b.c', subject: 's', body: 'b' } },
    });
    validateSync(dto, { whitelist: true });
    expect(dto.data?.payload).toEqual({ action_type: 'email', recipient: 'a@b.c', subject: 's', body: 'b' });
  });

  it.each([
    [{ decision: 'workflow' }, 'trace_id'],
    [{ trace_id: '', decision: 'workflow' }, 'trace_id'],
    [{ trace_id: 'x'.repeat(129), decision: 'workflow' }, 'trace_id'],
    [{ trace_id: 't', decision: 'launch' }, 'decision'],
    [{ trace_id: 't' }, 'decision'],
    [{ trace_id: 't', decision: 'workflow', data: 'x' }, 'data'],
    [{ trace_id: 't', decision: 'workflow', data: { workflow_type: 'other', payload: {} } }, 'data.workflow_type'],
    [{ trace_id: 't', decision: 'workflow', data: { payload: { action_type: 5 } } }, 'data.payload'],
    [{ trace_id: 't', decision: 'workflow', data: { payload: { user_id: {} } } }, 'data.payload'],
    [{ trace_id: 't', decision: 'workflow', data: { payload: ['task'] } }, 'data.payload'],
  ])('%j is refused at %s', (body, field) => {
    expect(problems(body)).toContain(field);
  });
});
