/**
 * JetStreamPublisher → JetStream → JetStreamServer against the real NATS of NATS_URL, on a stream of its
 * own (deleted afterwards). Skipped, saying so, when NATS_URL is unset.
 */
import { ConflictException, type INestApplication } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { RequesterId, type ServiceName } from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, PolicyService, TokenIssuer, TokenVerifier } from '@pancha/governance';
import { getTracer, installInMemoryTracing, SpanKind } from '@pancha/trace-context';
import { IsOptional, IsString } from 'class-validator';
import { headers as natsHeaders } from 'nats';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JetStreamConsumer } from './jetstream-consumer.decorator';
import { JetStreamContext } from './jetstream.context';
import { JetStreamPublisher } from './jetstream.publisher';
import { DLQ_HEADERS, JetStreamServer } from './jetstream.server';
import { subjectFor } from './nats.config';
import { startTestConsumer } from './testing/test-consumer';
import { createTestStream, testNatsUrl, type TestStream } from './testing/test-stream';
import { createTestKeys, eventually, type TestKeys } from '@pancha/testing';

jest.setTimeout(30000);
const tracing = installInMemoryTracing();
const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[nats-transport] NATS_URL is unset: skipping the JetStream integration tests');
const describeNats = NATS_URL ? describe : describe.skip;

class TestEventDto {
  @IsString()
  name!: string;

  @IsOptional() @IsString()
  mode?: string;
}

interface Call {
  body: TestEventDto;
  requester: string;
  headers: Record<string, string>;
  deliveries: number;
}

const calls: Call[] = [];
const failures = new Map<string, number>();

@JetStreamConsumer()
class TestConsumer {
  @EventPattern('bucket.test-event')
  handle(@Payload() body: TestEventDto, @Ctx() ctx: JetStreamContext): void {
    this.record(body, ctx);
  }

  @EventPattern('karma.test-event')
  handleKarma(@Payload() body: TestEventDto, @Ctx() ctx: JetStreamContext): void {
    this.record(body, ctx);
  }

  private record(body: TestEventDto, ctx: JetStreamContext): void {
    calls.push({ body, requester: ctx.getRequester().id, headers: ctx.getHeaders(), deliveries: ctx.getMessage().info.deliveryCount });
    if (body.mode === 'conflict') throw new ConflictException({ code: 'event_id_conflict', message: 'same id, other content' });
    const left = failures.get(body.name) ?? 0;
    if (left > 0) {
      failures.set(body.name, left - 1);
      throw new Error('database hiccup');
    }
  }
}

describeNats('JetStream transport (real NATS)', () => {
  let stream: TestStream;
  let keys: TestKeys;
  let env: NodeJS.ProcessEnv;
  let policy: PolicyService;
  let publisher: JetStreamPublisher;
  const apps: INestApplication[] = [];

  async function startConsumer(service: ServiceName): Promise<void> {
    apps.push(await startTestConsumer({ stream, controller: TestConsumer, service, keys: loadKeyStore(service === 'bucket' ? RequesterId.Bucket : RequesterId.Karma, env) }));
  }

  const callsNamed = (name: string) => calls.filter((c) => c.body.name === name);
  const publish = (name: string, extra: Record<string, unknown> = {}, topic = 'bucket.test-event', audience: ServiceName = 'bucket') =>
    publisher.publish({ topic, audience, messageKey: name, payload: { name, ...extra } });

  beforeAll(async () => {
    stream = await createTestStream(NATS_URL as string);
    keys = createTestKeys('nats');
    env = { PANCHA_KEYS_DIR: keys.dir };
    policy = PolicyService.fromEnv({});
    // A new token per message, as the outbox mints them.
    publisher = new JetStreamPublisher(stream.settings, keys.tokensFor(RequesterId.WorkflowExecutor));
    await startConsumer('bucket');
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await publisher?.close();
    await stream?.delete();
    keys?.remove();
  });

  it('delivers a published message once to its @EventPattern handler, with payload, token subject and headers', async () => {
    const ack = await publish('first', { mode: 'plain' });
    expect(ack).toMatchObject({ stream: stream.settings.stream, duplicate: false });
    await eventually(() => expect(callsNamed('first')).toHaveLength(1));
    const [call] = callsNamed('first');
    expect(call.body).toEqual({ name: 'first', mode: 'plain' });
    expect(call.body).toBeInstanceOf(TestEventDto);
    expect(call.requester).toBe(RequesterId.WorkflowExecutor);
    expect(call.headers['authorization']).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(call.headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(call.headers['nats-msg-id']).toBe('bucket.test-event:first');
    // Work-queue retention: the acknowledged message is gone from the stream.
    await eventually(async () => expect(await stream.storedCount()).toBe(0));
  });

  it('stores a message published twice with the same key once (JetStream dedup) and handles it once', async () => {
    const first = await publish('twice');
    const second = await publish('twice');
    expect(first.duplicate).toBe(false);
    expect(second).toMatchObject({ duplicate: true, seq: first.seq });
    await eventually(() => expect(callsNamed('twice')).toHaveLength(1));
    // Work-queue retention: once the stream is empty there is nothing left that could be delivered again.
    await eventually(async () => expect(await stream.storedCount()).toBe(0));
    expect(callsNamed('twice')).toHaveLength(1);
  });

  it('redelivers after a retryable failure and then acknowledges', async () => {
    failures.set('flaky', 1);
    await publish('flaky');
    await eventually(() => expect(callsNamed('flaky').map((c) => c.deliveries)).toEqual([1, 2]));
    await eventually(async () => expect(await stream.storedCount()).toBe(0));
    expect((await stream.deadLetters('bucket')).filter((m) => JSON.parse(m.string()).name === 'flaky')).toEqual([]);
  });

  function deadLetterFor(name: string) {
    return eventually(async () => {
      const found = (await stream.deadLetters('bucket')).find((m) => JSON.parse(m.string()).name === name);
      if (!found) throw new Error(`no dead letter for ${name} yet`);
      return found;
    });
  }

  it('rejects a permanently bad message: terminated, copied with its reason to the dead-letter subject', async () => {
    await publish('conflicting', { mode: 'conflict' });
    const dead = await deadLetterFor('conflicting');
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toBe('409 event_id_conflict: same id, other content');
    expect(dead.headers?.get(DLQ_HEADERS.subject)).toBe(subjectFor(stream.settings, 'bucket.test-event'));
    expect(dead.headers?.get('authorization')).toBe('');
    expect(dead.headers?.get('traceparent')).toMatch(/^00-/);
    expect(callsNamed('conflicting')).toHaveLength(1);
    await eventually(async () => expect(await stream.storedCount()).toBe(0));
  });

  it('rejects a payload that fails DTO validation without calling the handler', async () => {
    await publisher.publish({ topic: 'bucket.test-event', audience: 'bucket', messageKey: 'invalid', payload: { name: 42, tag: 'invalid' } });
    const dead = await eventually(async () => {
      const found = (await stream.deadLetters('bucket')).find((m) => JSON.parse(m.string()).tag === 'invalid');
      if (!found) throw new Error('not yet');
      return found;
    });
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toMatch(/^422 validation_failed: .*name/);
  });

  it('dead-letters a message that keeps failing after max_deliver deliveries', async () => {
    failures.set('hopeless', 99);
    await publish('hopeless');
    const dead = await deadLetterFor('hopeless');
    expect(callsNamed('hopeless').map((c) => c.deliveries)).toEqual([1, 2, 3]);
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toBe('max_deliver_exceeded: unexpected: database hiccup');
    expect(dead.headers?.get(DLQ_HEADERS.deliveries)).toBe('3');
  });

  it('dead-letters a forged token and a requester the policy denies, without calling the handler', async () => {
    const strangerKeys = mkdtempSync(path.join(tmpdir(), 'nats-stranger-'));
    try {
      ensureKeyPairs(strangerKeys, [RequesterId.WorkflowExecutor]);
      const forged = await new TokenIssuer(loadKeyStore(RequesterId.WorkflowExecutor, { PANCHA_KEYS_DIR: strangerKeys })).tokenFor('bucket');
      const denied = await new TokenIssuer(loadKeyStore(RequesterId.Bucket, env)).tokenFor('bucket');
      for (const [name, token] of [['forged', forged], ['denied', denied], ['no-token', undefined]] as const) {
        const h = natsHeaders();
        if (token) h.set('authorization', `Bearer ${token}`);
        await stream.nc.jetstream().publish(subjectFor(stream.settings, 'bucket.test-event'), Buffer.from(JSON.stringify({ name })), { headers: h });
      }
      expect((await deadLetterFor('forged')).headers?.get(DLQ_HEADERS.reason)).toBe('unauthenticated: signature verification failed');
      expect((await deadLetterFor('denied')).headers?.get(DLQ_HEADERS.reason)).toBe('forbidden: requester bucket may not write on bucket');
      expect((await deadLetterFor('no-token')).headers?.get(DLQ_HEADERS.reason)).toBe('unauthenticated: the message carries no bearer token');
      expect(calls.filter((c) => ['forged', 'denied', 'no-token'].includes(c.body.name))).toEqual([]);
    } finally {
      rmSync(strangerKeys, { recursive: true, force: true });
    }
  });

  it('accepts a token that expired while the message waited, judging it at the time JetStream stored the message', async () => {
    // Karma's consumer is not running yet: the message waits in the stream.
    const shortLived = new JetStreamPublisher(stream.settings, new TokenIssuer(loadKeyStore(RequesterId.WorkflowExecutor, env), { ttlSeconds: 1 }));
    try {
      await shortLived.publish({ topic: 'karma.test-event', audience: 'karma', messageKey: 'waited', payload: { name: 'waited' } });
    } finally {
      await shortLived.close();
    }
    // The wait, without waiting: this process's clock jumps ten minutes, far past the token's life and the
    // verifier's tolerance. A consumer that judged the token by the clock would refuse it now.
    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 10 * 60_000);
    try {
      await startConsumer('karma');
      await eventually(() => expect(callsNamed('waited')).toHaveLength(1));
      const bearer = callsNamed('waited')[0].headers['authorization'].replace(/^Bearer /, '');
      // The same token checked against the clock now is refused: only the stored timestamp made it valid.
      await expect(new TokenVerifier(loadKeyStore(RequesterId.Karma, env), policy, 'karma').verify(bearer)).rejects.toThrow('token expired');
    } finally {
      clock.mockRestore();
    }
  });

  it('continues the producer trace: the consumer span is a child of the publish span', async () => {
    tracing.reset();
    const rootTraceId = await getTracer().startActiveSpan('test request', async (root) => {
      await publish('traced');
      root.end();
      return root.spanContext().traceId;
    });
    await eventually(() => expect(callsNamed('traced')).toHaveLength(1));
    const spans = await eventually(() => {
      const found = tracing.spans();
      const consumer = found.find((s) => s.name === `${subjectFor(stream.settings, 'bucket.test-event')} process`);
      if (!consumer) throw new Error('no consumer span yet');
      return found;
    });
    const publishSpan = spans.find((s) => s.name === `${subjectFor(stream.settings, 'bucket.test-event')} publish`);
    const consumerSpan = spans.find((s) => s.name === `${subjectFor(stream.settings, 'bucket.test-event')} process`);
    expect(publishSpan?.kind).toBe(SpanKind.PRODUCER);
    expect(publishSpan?.spanContext().traceId).toBe(rootTraceId);
    expect(consumerSpan?.kind).toBe(SpanKind.CONSUMER);
    expect(consumerSpan?.spanContext().traceId).toBe(rootTraceId);
    expect(consumerSpan?.parentSpanContext?.spanId).toBe(publishSpan?.spanContext().spanId);
    expect(consumerSpan?.attributes['messaging.nats.disposition']).toBe('ack');
  });

  it('a close that comes while the consumer is being set up ends it, instead of both waiting on each other for good', async () => {
    const server = new JetStreamServer({ settings: stream.settings, service: 'karma', keys: loadKeyStore(RequesterId.Karma, env), policy });
    let closing: Promise<void> | undefined;
    const ensure = (server as unknown as { ensureConsumer: (jsm: unknown) => Promise<void> }).ensureConsumer.bind(server);
    // The close lands between the consumer's creation and its first consume(), the window the run loop had left open.
    jest.spyOn(server as unknown as { ensureConsumer: (jsm: unknown) => Promise<void> }, 'ensureConsumer').mockImplementation(async (jsm) => {
      await ensure(jsm);
      closing = server.close();
    });
    server.listen(() => undefined);
    await eventually(() => expect(closing).toBeDefined());
    await expect(closing).resolves.toBeUndefined();
  });
});
