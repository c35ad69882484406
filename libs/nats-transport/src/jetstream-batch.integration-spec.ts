/**
 * A relay's batch over JetStream: JetStreamPublisher.publishBatch → one message on `<topic>.batch` → the receiver's
 * batch handler, each event settled on its own. Against the real NATS of NATS_URL, on a stream of its own (deleted
 * afterwards). Skipped, saying so, when NATS_URL is unset.
 */
import type { INestApplication } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { eventBatchTopic, EventTopic, MAX_EVENT_BATCH, MAX_JSON_DEPTH, MetricName, RequesterId, type EventBatchItem, type EventBatchOutcome } from '@pancha/contracts';
import { loadKeyStore } from '@pancha/governance';
import { metricsRegistry } from '@pancha/service-kit';
import { createTestKeys, eventually, type TestKeys } from '@pancha/testing';
import { headers as natsHeaders, type JsMsg } from 'nats';
import { JetStreamConsumer } from './jetstream-consumer.decorator';
import { JetStreamContext } from './jetstream.context';
import { JetStreamPublisher } from './jetstream.publisher';
import { DLQ_HEADERS } from './jetstream.server';
import { subjectFor } from './nats.config';
import { startTestConsumer } from './testing/test-consumer';
import { createTestStream, testNatsUrl, type TestStream } from './testing/test-stream';

jest.setTimeout(60_000);
const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[nats-transport] NATS_URL is unset: skipping the JetStream batch tests');
const describeNats = NATS_URL ? describe : describe.skip;

const HOP = EventTopic.BucketWorkflowEvent;

interface Body {
  name: string;
  /** refuse: answered 422; flaky: 503 while failures.get(name) > 0; hopeless: 503 always. */
  mode?: 'refuse' | 'flaky' | 'hopeless';
  pad?: string;
}

interface Call {
  names: string[];
  deliveries: number;
  requester: string;
}

const calls: Call[] = [];
const failures = new Map<string, number>();

@JetStreamConsumer()
class BatchConsumer {
  @EventPattern(eventBatchTopic(HOP))
  handle(@Payload('events') events: EventBatchItem<Body>[], @Ctx() ctx: JetStreamContext): EventBatchOutcome[] {
    calls.push({ names: events.map((e) => e.body.name), deliveries: ctx.getMessage().info.deliveryCount, requester: ctx.getRequester().id });
    return events.map(({ body }) => {
      if (body.mode === 'refuse') return { status: 422, body: { code: 'validation_failed', message: `${body.name} is refused` } };
      const left = failures.get(body.name) ?? 0;
      if (body.mode === 'hopeless' || left > 0) {
        failures.set(body.name, left - 1);
        return { status: 503, body: { code: 'database_unavailable', message: 'try later' } };
      }
      return { status: 201, body: { stored: body.name } };
    });
  }
}

/** pancha_jetstream_events_total for the hop and an outcome, as GET /metrics would show it. */
async function eventsCounted(outcome: string): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric(MetricName.JetStreamEvents)?.get();
  return metric?.values.find((v) => v.labels.topic === HOP && v.labels.outcome === outcome)?.value ?? NaN;
}

const traceparentOf = (n: number) => `00-${n.toString(16).padStart(32, '0')}-${'b'.repeat(16)}-01`;
const item = (name: string, extra: Partial<Body> = {}, n = 1): EventBatchItem<Body> => ({ body: { name, ...extra }, traceparent: traceparentOf(n) });

describeNats('JetStream batches (real NATS)', () => {
  let stream: TestStream;
  let keys: TestKeys;
  let publisher: JetStreamPublisher;
  let app: INestApplication;

  const callsWith = (name: string) => calls.filter((c) => c.names.includes(name));
  const publishBatch = (items: EventBatchItem<Body>[]) =>
    publisher.publishBatch({ topic: HOP, audience: 'bucket', messageKeys: items.map((i) => `key-${i.body.name}`), items });
  const deadLettersOf = async (name: string): Promise<JsMsg[]> =>
    (await stream.deadLetters('bucket')).filter((m) => {
      const body = JSON.parse(m.string()) as { name?: string; events?: { body: Body | null }[] };
      return body.name === name || body.events?.some((e) => e.body?.name === name);
    });
  const drained = () => eventually(async () => expect(await stream.storedCount('bucket')).toBe(0));

  beforeAll(async () => {
    stream = await createTestStream(NATS_URL as string, 'BATCH');
    keys = createTestKeys('nats-batch');
    const env = { PANCHA_KEYS_DIR: keys.dir };
    publisher = new JetStreamPublisher(stream.settings, keys.tokensFor(RequesterId.WorkflowExecutor));
    app = await startTestConsumer({ stream, controller: BatchConsumer, service: 'bucket', keys: loadKeyStore(RequesterId.Bucket, env) });
  });

  afterAll(async () => {
    await app?.close();
    await publisher?.close();
    await stream?.delete();
    keys?.remove();
  });

  it('sends a batch as one message, handled by one call with every event in order, and keeps a retried publish out', async () => {
    const items = [item('one-a', {}, 1), item('one-b', {}, 2), item('one-c', {}, 3)];
    expect(await publishBatch(items)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    await eventually(() => expect(callsWith('one-a')).toEqual([{ names: ['one-a', 'one-b', 'one-c'], deliveries: 1, requester: RequesterId.WorkflowExecutor }]));
    // The same keys again (a publish retried after a lost PubAck): the stream's duplicate window drops it.
    expect(await publishBatch(items)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    await drained();
    expect(callsWith('one-a')).toHaveLength(1);
    expect(await deadLettersOf('one-a')).toEqual([]);
  });

  it('dead-letters a poisoned event alone, as the single message of its hop, and delivers its neighbours', async () => {
    const [deliveredBefore, deadBefore] = [await eventsCounted('delivered'), await eventsCounted('dead')];
    expect(await publishBatch([item('poison-a', {}, 4), item('poison-b', { mode: 'refuse' }, 5), item('poison-c', {}, 6)])).toHaveLength(3);
    const [dead] = await eventually(async () => {
      const found = await deadLettersOf('poison-b');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(JSON.parse(dead.string())).toEqual({ name: 'poison-b', mode: 'refuse' });
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toBe('422 validation_failed: poison-b is refused');
    expect(dead.headers?.get(DLQ_HEADERS.subject)).toBe(subjectFor(stream.settings, HOP));
    expect(dead.headers?.get(DLQ_HEADERS.batchIndex)).toBe('1');
    expect(dead.headers?.get('traceparent')).toBe(traceparentOf(5));
    expect(dead.headers?.get('authorization')).toBe('');
    await drained();
    // Handled once: the neighbours were delivered, and neither of them has a dead letter.
    expect(callsWith('poison-a')).toHaveLength(1);
    expect(await deadLettersOf('poison-a')).toEqual([]);
    expect(await deadLettersOf('poison-c')).toEqual([]);
    // What an operator sees: two events delivered, one dead, on the hop's series.
    expect([(await eventsCounted('delivered')) - deliveredBefore, (await eventsCounted('dead')) - deadBefore]).toEqual([2, 1]);
  });

  it('redelivers the whole message while an event may succeed later, then acknowledges it with nothing dead-lettered', async () => {
    failures.set('flaky-b', 1);
    const [delivered, retried] = [await eventsCounted('delivered'), await eventsCounted('retry')];
    await publishBatch([item('flaky-a'), item('flaky-b', { mode: 'flaky' })]);
    await eventually(() => expect(callsWith('flaky-a').map((c) => c.deliveries)).toEqual([1, 2]));
    await drained();
    expect([(await eventsCounted('delivered')) - delivered, (await eventsCounted('retry')) - retried]).toEqual([2, 1]);
    expect(await deadLettersOf('flaky-a')).toEqual([]);
    expect(await deadLettersOf('flaky-b')).toEqual([]);
  });

  it('after max_deliver dead-letters each event still failing and each refused one, once, and not the delivered one', async () => {
    await publishBatch([item('last-a'), item('last-b', { mode: 'hopeless' }), item('last-c', { mode: 'refuse' })]);
    await eventually(async () => {
      expect(await deadLettersOf('last-b')).toHaveLength(1);
      expect(await deadLettersOf('last-c')).toHaveLength(1);
    });
    expect(callsWith('last-a').map((c) => c.deliveries)).toEqual([1, 2, 3]);
    expect((await deadLettersOf('last-b'))[0].headers?.get(DLQ_HEADERS.reason)).toBe('max_deliver_exceeded: 503 database_unavailable: try later');
    expect((await deadLettersOf('last-c'))[0].headers?.get(DLQ_HEADERS.reason)).toBe('422 validation_failed: last-c is refused');
    expect((await deadLettersOf('last-c'))[0].headers?.get(DLQ_HEADERS.deliveries)).toBe('3');
    expect(await deadLettersOf('last-a')).toEqual([]);
    await drained();
  });

  it('dead-letters a malformed batch envelope whole, without calling the handler', async () => {
    const h = natsHeaders();
    h.set('authorization', `Bearer ${await keys.tokensFor(RequesterId.WorkflowExecutor).tokenFor('bucket')}`);
    const body = { events: [{ body: null, name: 'envelope' }] };
    const callsBefore = calls.length;
    await stream.nc.jetstream().publish(subjectFor(stream.settings, eventBatchTopic(HOP)), Buffer.from(JSON.stringify(body)), { headers: h });
    const dead = await eventually(async () => {
      const found = (await stream.deadLetters('bucket')).find((m) => JSON.parse(m.string()).events?.[0]?.name === 'envelope');
      if (!found) throw new Error('no dead letter yet');
      return found;
    });
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toBe('validation_failed: events.0.body: events.0.body should not be null or undefined');
    expect(dead.headers?.get(DLQ_HEADERS.subject)).toBe(subjectFor(stream.settings, eventBatchTopic(HOP)));
    expect(calls).toHaveLength(callsBefore);
  });

  const namesStartingWith = (prefix: string) => calls.flatMap((c) => c.names).filter((n) => n.startsWith(prefix));
  const callsStartingWith = (prefix: string) => calls.filter((c) => c.names.some((n) => n.startsWith(prefix)));

  it("splits a batch larger than the server's max_payload into several messages, in order, every event delivered once", async () => {
    const maxPayload = stream.nc.info?.max_payload ?? 1024 * 1024;
    const pad = 'x'.repeat(Math.floor(maxPayload / 3));
    const names = ['big-1', 'big-2', 'big-3', 'big-4', 'big-5'];
    expect(await publishBatch(names.map((name) => item(name, { pad })))).toEqual(names.map(() => ({ ok: true })));
    await eventually(() => expect(namesStartingWith('big-').sort()).toEqual(names));
    await drained();
    expect(namesStartingWith('big-').sort()).toEqual(names);
    // Two of these bodies fill a message: three messages at least, each a consecutive run of the batch.
    const messages = callsStartingWith('big-');
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const m of messages) expect(m.names).toEqual(names.slice(names.indexOf(m.names[0]), names.indexOf(m.names[0]) + m.names.length));
  });

  it('splits a batch of more events than a receiver takes (MAX_EVENT_BATCH) into messages within it', async () => {
    const names = Array.from({ length: MAX_EVENT_BATCH + 30 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
    expect(await publishBatch(names.map((name) => item(name)))).toEqual(names.map(() => ({ ok: true })));
    await eventually(() => expect(namesStartingWith('many-').sort()).toEqual(names));
    await drained();
    expect(callsStartingWith('many-').map((c) => c.names.length).sort((a, b) => b - a)).toEqual([MAX_EVENT_BATCH, 30]);
    expect(await deadLettersOf('many-000')).toEqual([]);
  });

  it('refuses a body the single path would refuse before validation (too deep) for itself alone', async () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < MAX_JSON_DEPTH + 2; i++) deep = { deep };
    await publishBatch([item('deep-a'), { body: { name: 'deep-b', ...deep } as unknown as Body, traceparent: traceparentOf(7) }, item('deep-c')]);
    const [dead] = await eventually(async () => {
      const found = await deadLettersOf('deep-b');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toMatch(/^422 validation_failed: .*deep/);
    await drained();
    // The handler saw the two others, in one call, and never the deep one.
    expect(callsWith('deep-a')).toEqual([expect.objectContaining({ names: ['deep-a', 'deep-c'] })]);
  });
});
