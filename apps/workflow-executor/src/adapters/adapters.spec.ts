import { ExecutorErrorCode, type WorkflowPayload } from '@pancha/contracts';
import { CapturedMessageEntity } from '../capture-outbox/captured-message.entity';
import { testConfig } from '../config/test-config';
import type { ActionAdapter } from './action-adapter';
import { AiAdapter } from './ai.adapter';
import { EmailAdapter } from './email.adapter';
import { TaskAdapter, taskReference } from './task.adapter';
import { TaskEntity } from '../tasks/task.entity';
import { WhatsappAdapter } from './whatsapp.adapter';

const config = testConfig();

function codeOf(adapter: ActionAdapter, payload: WorkflowPayload): string | undefined {
  const parsed = adapter.parse(payload);
  return parsed.ok ? undefined : parsed.failure.error_code;
}

describe('adapter field validation', () => {
  it.each([
    ['task', new TaskAdapter(), { title: 'Call back' }, { description: 'x' }, ExecutorErrorCode.MissingTaskTitle],
    ['task (blank title)', new TaskAdapter(), { title: 'Call back' }, { title: '   ' }, ExecutorErrorCode.MissingTaskTitle],
    ['task (numeric title)', new TaskAdapter(), { title: 'Call back' }, { title: 42 }, ExecutorErrorCode.MissingTaskTitle],
    ['email recipient', new EmailAdapter(config), { recipient: 'a@b.c', subject: 's', body: 'b' }, { subject: 's', body: 'b' }, ExecutorErrorCode.MissingRecipient],
    ['email subject', new EmailAdapter(config), { recipient: 'a@b.c', subject: 's', body: 'b' }, { recipient: 'a@b.c', body: 'b' }, ExecutorErrorCode.MissingSubject],
    ['email body', new EmailAdapter(config), { recipient: 'a@b.c', subject: 's', body: 'b' }, { recipient: 'a@b.c', subject: 's', body: '' }, ExecutorErrorCode.MissingBody],
    ['whatsapp recipient', new WhatsappAdapter(config), { recipient: '+15550001', message: 'hi' }, { message: 'hi' }, ExecutorErrorCode.MissingRecipient],
    ['whatsapp message', new WhatsappAdapter(config), { recipient: '+15550001', message: 'hi' }, { recipient: '+15550001' }, ExecutorErrorCode.MissingMessage],
    ['ai prompt', new AiAdapter(config), { prompt: 'hello' }, { prompt: null }, ExecutorErrorCode.MissingPrompt],
  ])('%s: accepts a complete payload and names the missing field', (_name, adapter, complete, incomplete, code) => {
    expect(codeOf(adapter as ActionAdapter, complete as WorkflowPayload)).toBeUndefined();
    expect(codeOf(adapter as ActionAdapter, incomplete as WorkflowPayload)).toBe(code);
  });

  it('whatsapp takes the design note\'s `phone` as the recipient; `recipient` wins when both are given', () => {
    const adapter = new WhatsappAdapter(config);
    expect(adapter.parse({ phone: ' +919800000001 ', message: 'hi' })).toEqual({ ok: true, input: { recipient: '+919800000001', message: 'hi' } });
    expect(adapter.parse({ recipient: '+15550001', phone: '+919800000001', message: 'hi' })).toEqual({ ok: true, input: { recipient: '+15550001', message: 'hi' } });
    expect(codeOf(adapter, { phone: '   ', message: 'hi' })).toBe(ExecutorErrorCode.MissingRecipient);
  });

  it('checks email fields in the order recipient, subject, body', () => {
    expect(codeOf(new EmailAdapter(config), {})).toBe(ExecutorErrorCode.MissingRecipient);
    expect(codeOf(new EmailAdapter(config), { recipient: 'a@b.c' })).toBe(ExecutorErrorCode.MissingSubject);
  });
});

describe('adapters without providers', () => {
  const context = { traceId: 't-1', signal: new AbortController().signal, timeoutMs: 1000 };

  it('ai fails with provider_not_configured and sends nothing', async () => {
    const outcome = await new AiAdapter(config).execute({ prompt: 'hi' }, context);
    expect(outcome).toMatchObject({ success: false, error_code: ExecutorErrorCode.ProviderNotConfigured });
  });

  it('email and whatsapp say they were captured, not sent over a provider', async () => {
    const email = await new EmailAdapter(config).execute({ recipient: 'a@b.c', subject: 's', body: 'b' }, context);
    const whatsapp = await new WhatsappAdapter(config).execute({ recipient: '+1555', message: 'm' }, context);
    expect(email).toMatchObject({ success: true, result: { status: 'CAPTURED', transport: 'capture' } });
    expect(whatsapp).toMatchObject({ success: true, result: { status: 'CAPTURED', transport: 'capture' } });
    // The message is kept as a row written with the execution's result, under the id the result names.
    expect(email.success && email.rows).toEqual([
      { into: CapturedMessageEntity, values: expect.objectContaining({ id: email.success && email.result.message_id, channel: 'email', recipient: 'a@b.c', subject: 's', body: 'b' }) },
    ]);
    expect(whatsapp.success && whatsapp.rows).toEqual([
      { into: CapturedMessageEntity, values: expect.objectContaining({ id: whatsapp.success && whatsapp.result.whatsapp_message_id, channel: 'whatsapp', recipient: '+1555', body: 'm' }) },
    ]);
  });

  it('task returns a CREATED task with a reference derived from its id', async () => {
    const outcome = await new TaskAdapter().execute({ title: 't', description: null }, context);
    expect(outcome.success).toBe(true);
    if (!outcome.success) return;
    expect(outcome.result).toEqual({
      task_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      task_status: 'CREATED',
      reference: taskReference(outcome.result.task_id as string),
    });
    expect(outcome.rows).toEqual([{ into: TaskEntity, values: expect.objectContaining({ id: outcome.result.task_id, title: 't', status: 'CREATED', traceId: 't-1' }) }]);
    expect(taskReference('1a2b3c4d-0000-4000-8000-000000000000')).toBe('TASK-1A2B3C4D');
  });
});
