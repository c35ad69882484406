import { ConflictException, ServiceUnavailableException, UnprocessableEntityException } from '@nestjs/common';
import { OutboxDeliveryError } from '@pancha/outbox';
import { validateEnv } from '@pancha/service-kit';
import { JetStreamPublisher } from './jetstream.publisher';
import { dispositionForError, JetStreamRejection } from './message-disposition';
import { deadLetterSubject, NatsConfig, natsSettings, subjectFor } from './nats.config';

describe('natsSettings', () => {
  it('is undefined without NATS_URL (the services talk HTTP)', () => {
    expect(natsSettings({})).toBeUndefined();
    expect(natsSettings({ NATS_URL: '  ' })).toBeUndefined();
  });

  it('derives the subject prefix from the stream name', () => {
    const settings = natsSettings({ NATS_URL: 'nats://a:4222, nats://b:4222', NATS_STREAM: 'E2E_x1' });
    expect(settings).toEqual({ servers: ['nats://a:4222', 'nats://b:4222'], stream: 'E2E_x1', subjectPrefix: 'e2e_x1' });
    expect(subjectFor({ subjectPrefix: 'e2e_x1' }, 'bucket.workflow-event')).toBe('e2e_x1.bucket.workflow-event');
    expect(deadLetterSubject({ subjectPrefix: 'e2e_x1' }, 'karma')).toBe('e2e_x1.dlq.karma');
    expect(natsSettings({ NATS_URL: 'nats://127.0.0.1:4222' })?.subjectPrefix).toBe('pancha');
  });

  it('refuses a bad URL or stream name with a message naming the variable', () => {
    expect(() => natsSettings({ NATS_URL: 'http://x:4222' })).toThrow('NATS_URL');
    expect(() => natsSettings({ NATS_URL: 'nats://x:4222', NATS_STREAM: 'a.b' })).toThrow('NATS_STREAM');
  });

  it('validates at start through the config class', () => {
    expect(validateEnv(NatsConfig, { NATS_URL: 'tls://nats.internal:4222' })).toMatchObject({ NATS_URL: 'tls://nats.internal:4222', NATS_STREAM: 'PANCHA' });
    expect(() => validateEnv(NatsConfig, { NATS_URL: 'localhost:4222', NATS_STREAM: 'has space' })).toThrow(/NATS_URL[\s\S]*NATS_STREAM/);
  });
});

describe('dispositionForError', () => {
  it('rejects what can never succeed', () => {
    expect(dispositionForError(new JetStreamRejection('unauthenticated: forged'))).toEqual({ action: 'reject', reason: 'unauthenticated: forged' });
    expect(dispositionForError(new ConflictException({ code: 'event_id_conflict', message: 'taken' }))).toEqual({
      action: 'reject',
      reason: '409 event_id_conflict: taken',
    });
    expect(dispositionForError(new UnprocessableEntityException('bad')).action).toBe('reject');
  });

  it('retries outages and anything unexpected', () => {
    expect(dispositionForError(new ServiceUnavailableException()).action).toBe('retry');
    expect(dispositionForError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toEqual({
      action: 'retry',
      reason: 'database unavailable: connect ECONNREFUSED 127.0.0.1:5432',
    });
    expect(dispositionForError(new TypeError('boom'))).toEqual({ action: 'retry', reason: 'unexpected: boom' });
  });
});

describe('JetStreamPublisher with NATS down', () => {
  it('fails each publish within its timeout as a retryable OutboxDeliveryError (the outbox keeps the row pending)', async () => {
    const settings = { servers: ['nats://127.0.0.1:1'], stream: 'PANCHA', subjectPrefix: 'pancha' };
    const tokenFor = jest.fn(async () => 'token');
    const publisher = new JetStreamPublisher(settings, { tokenFor }, { timeoutMs: 300 });
    try {
      const error = await publisher.publish({ topic: 'bucket.x', audience: 'bucket', messageKey: 'k', payload: {} }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OutboxDeliveryError);
      // Its own timeout ended the wait (the client alone would keep reconnecting forever).
      expect(error).toMatchObject({ retryable: true, message: expect.stringContaining('pancha.bucket.x') });
      expect((error as Error).message).toContain('NATS is not connected after 300 ms');
      expect(tokenFor).not.toHaveBeenCalled();
    } finally {
      await publisher.close();
    }
  });

  it('keys messages by topic and outbox key', () => {
    expect(JetStreamPublisher.messageId('karma.life-event', 'trace-1')).toBe('karma.life-event:trace-1');
  });
});
