import { ActionType, ExecutorErrorCode } from '@pancha/contracts';
import { testConfig } from '../config/test-config';
import type { ActionAdapter, ActionOutcome } from './action-adapter';
import { ActionRunner, resolveActionType } from './action-runner.service';
import type { AiAdapter } from './ai.adapter';
import type { EmailAdapter } from './email.adapter';
import { TaskAdapter } from './task.adapter';
import type { WhatsappAdapter } from './whatsapp.adapter';

function fakeAdapter(actionType: ActionType, execute: () => Promise<ActionOutcome>): ActionAdapter {
  return { actionType, parse: () => ({ ok: true, input: {} }), execute };
}

const ok = (name: string) => async (): Promise<ActionOutcome> => ({ success: true, result: { adapter: name } });

function runner(overrides: Partial<Record<ActionType, ActionAdapter>> = {}, env: Record<string, string> = {}): ActionRunner {
  return new ActionRunner(
    testConfig(env),
    (overrides.task ?? new TaskAdapter()) as TaskAdapter,
    (overrides.email ?? fakeAdapter(ActionType.Email, ok('email'))) as unknown as EmailAdapter,
    (overrides.whatsapp ?? fakeAdapter(ActionType.Whatsapp, ok('whatsapp'))) as unknown as WhatsappAdapter,
    (overrides.ai ?? fakeAdapter(ActionType.Ai, ok('ai'))) as unknown as AiAdapter,
  );
}

const context = { traceId: 'trace-1' };

describe('resolveActionType', () => {
  it.each([undefined, null, '', '  ', 7])('%p → missing_action_type', (raw) => {
    expect(resolveActionType(raw)).toMatchObject({ ok: false, failure: { error_code: ExecutorErrorCode.MissingActionType } });
  });

  it('an unknown action → unsupported_action_type naming the supported ones', () => {
    const resolved = resolveActionType('teleport');
    expect(resolved).toMatchObject({ ok: false, failure: { error_code: ExecutorErrorCode.UnsupportedActionType } });
    expect(!resolved.ok && resolved.failure.message).toContain('task, email, whatsapp, ai');
  });

  it('accepts every ActionType, case-insensitively', () => {
    for (const type of Object.values(ActionType)) {
      expect(resolveActionType(type)).toEqual({ ok: true, actionType: type });
      expect(resolveActionType(` ${type.toUpperCase()} `)).toEqual({ ok: true, actionType: type });
    }
  });
});

describe('ActionRunner', () => {
  it('routes each action type to its own adapter', async () => {
    const r = runner();
    for (const type of [ActionType.Email, ActionType.Whatsapp, ActionType.Ai]) {
      expect(await r.run({ action_type: type }, context)).toEqual({ success: true, result: { adapter: type } });
    }
    expect(await r.run({ action_type: 'task', title: 'x' }, context)).toMatchObject({ success: true, result: { task_status: 'CREATED' } });
  });

  it('returns the adapter validation failure without executing', async () => {
    const task = new TaskAdapter();
    const execute = jest.spyOn(task, 'execute');
    const r = runner({ task });
    expect(await r.run({ action_type: 'task' }, context)).toMatchObject({ success: false, error_code: ExecutorErrorCode.MissingTaskTitle });
    expect(execute).not.toHaveBeenCalled();
  });

  describe('on a clock the test moves', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('turns an adapter that never answers into adapter_timeout at ADAPTER_TIMEOUT_MS, not before, and aborts it', async () => {
      let signal: AbortSignal | undefined;
      const hanging: ActionAdapter = {
        actionType: ActionType.Ai,
        parse: () => ({ ok: true, input: {} }),
        execute: (_input, ctx) => {
          signal = ctx.signal;
          return new Promise<ActionOutcome>(() => undefined);
        },
      };
      let outcome: ActionOutcome | undefined;
      void runner({ ai: hanging }, { ADAPTER_TIMEOUT_MS: '5000' })
        .run({ action_type: 'ai' }, context)
        .then((o) => (outcome = o));
      await jest.advanceTimersByTimeAsync(4999);
      expect(outcome).toBeUndefined();
      expect(signal?.aborted).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(outcome).toMatchObject({ success: false, error_code: ExecutorErrorCode.AdapterTimeout, message: 'the action did not complete within 5000 ms' });
      expect(signal?.aborted).toBe(true);
    });
  });

  it('turns an adapter that throws into adapter_execution_failed', async () => {
    const throwing = fakeAdapter(ActionType.Email, async () => {
      throw new Error('boom with secret=hunter2');
    });
    const outcome = await runner({ email: throwing }).run({ action_type: 'email' }, context);
    expect(outcome).toMatchObject({ success: false, error_code: ExecutorErrorCode.AdapterExecutionFailed });
    expect(JSON.stringify(outcome)).not.toContain('hunter2');
  });
});
