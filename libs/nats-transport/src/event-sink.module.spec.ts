import { Global, Module, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { type EventHopTopic, EventTopic, type KarmaLifeEventBody, type PublishEventRequest } from '@pancha/contracts';
import { TokenIssuer } from '@pancha/governance';
import { OutboxDeliveryError, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
import { EventSink, HttpEventSink, JetStreamEventSink } from './event-sink';
import { EventHopHandler, EventSinkModule, type EventSinkModuleOptions } from './event-sink.module';

const tokens = { tokenFor: async () => 'token' } as unknown as TokenIssuer;

/** What an app has around its sink module: a global TokenIssuer (governance) and its own clients. */
class Recorder {
  readonly sent: [string, unknown][] = [];
}
@Global()
@Module({ providers: [{ provide: TokenIssuer, useValue: tokens }, Recorder], exports: [TokenIssuer, Recorder] })
class AppProviders {}

function boot<T extends EventHopTopic>(options: EventSinkModuleOptions<T>, handlers: Type<OutboxHandler>[]) {
  return Test.createTestingModule({ imports: [AppProviders, EventSinkModule.forRoot(options)], providers: handlers }).compile();
}

const message = (topic: string, payload: unknown): OutboxMessage => ({ id: '1', topic, messageKey: 'k-1', orderingKey: null, payload, headers: {}, attempts: 0 });
const routerBody: PublishEventRequest = { id: 'karma:role_changed:7', type: 'karma.role_changed', source: 'karma', data: { user_id: 'u-1' } };
const lifeBody: KarmaLifeEventBody = { type: 'life_event', source: 'workflow_executor', data: { event_id: 'e-1', user_id: 'u-1', action: 'workflow_success', context: { trace_id: 't-1', action_type: 'task' } } };

describe('EventSinkModule and EventHopHandler', () => {
  it('without NATS_URL, each hop handler sends the stored payload through the route the app declared, built once with its injected providers', async () => {
    let built = 0;
    const CoreKarma = EventHopHandler(EventTopic.CoreKarmaEvent);
    const KarmaLife = EventHopHandler(EventTopic.KarmaLifeEvent);
    const options: EventSinkModuleOptions<EventTopic.CoreKarmaEvent | EventTopic.KarmaLifeEvent> = {
      name: 'test-events',
      config: {},
      inject: [Recorder],
      http: (issuer: TokenIssuer, recorder: Recorder) => {
        built++;
        expect(issuer).toBe(tokens);
        return {
          [EventTopic.CoreKarmaEvent]: async (body: PublishEventRequest) => void recorder.sent.push(['core', body]),
          [EventTopic.KarmaLifeEvent]: async (body: KarmaLifeEventBody) => void recorder.sent.push(['karma', body]),
        };
      },
    };
    const moduleRef = await boot(options, [CoreKarma, KarmaLife]);
    const app = moduleRef.createNestApplication();
    await app.init();
    expect(app.get(EventSink)).toBeInstanceOf(HttpEventSink);
    const coreHandler = app.get(CoreKarma);
    const karmaHandler = app.get(KarmaLife);
    expect([coreHandler.topic, karmaHandler.topic]).toEqual(['core.karma-event', 'karma.life-event']);
    expect(CoreKarma.name).toBe('EventHopHandler(core.karma-event)');

    await coreHandler.deliver(message('core.karma-event', routerBody));
    await karmaHandler.deliver(message('karma.life-event', lifeBody));
    expect(app.get(Recorder).sent).toEqual([
      ['core', routerBody],
      ['karma', lifeBody],
    ]);
    expect(built).toBe(1);
    await app.close();
  });

  it('over HTTP, a hop with a batch call gets deliverBatch (one request for the relay\'s batch, each message with its trace); one without does not', async () => {
    const KarmaLife = EventHopHandler(EventTopic.KarmaLifeEvent);
    const CoreKarma = EventHopHandler(EventTopic.CoreKarmaEvent);
    const batches: unknown[] = [];
    const moduleRef = await boot<EventTopic.KarmaLifeEvent | EventTopic.CoreKarmaEvent>(
      {
        name: 'test-events',
        config: {},
        http: () => ({
          send: { [EventTopic.KarmaLifeEvent]: async () => undefined, [EventTopic.CoreKarmaEvent]: async () => undefined },
          batch: {
            [EventTopic.KarmaLifeEvent]: async (items) => {
              batches.push(items);
              return items.map((_, i) => (i === 1 ? { ok: false as const, error: new Error('refused') } : { ok: true as const }));
            },
          },
        }),
      },
      [KarmaLife, CoreKarma],
    );
    const karmaHandler = moduleRef.get(KarmaLife);
    expect(moduleRef.get(CoreKarma).deliverBatch).toBeUndefined();
    const traced = { ...message('karma.life-event', lifeBody), headers: { traceparent: '00-' + 'a'.repeat(32) + '-' + 'b'.repeat(16) + '-01' } };
    const results = await karmaHandler.deliverBatch!([traced, message('karma.life-event', { ...lifeBody, data: { ...lifeBody.data, event_id: 'e-2' } })]);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    expect(batches).toEqual([
      [
        { body: lifeBody, traceparent: traced.headers.traceparent, tracestate: undefined },
        { body: { ...lifeBody, data: { ...lifeBody.data, event_id: 'e-2' } }, traceparent: undefined, tracestate: undefined },
      ],
    ]);
  });

  it("over JetStream every hop gets deliverBatch: the relay's batch is one publishBatch to the hop's receiver, named by the messages' keys (not the HTTP batch call)", async () => {
    const KarmaLife = EventHopHandler(EventTopic.KarmaLifeEvent);
    const httpBatch = jest.fn();
    const moduleRef = await boot<EventTopic.KarmaLifeEvent>(
      { name: 'test-events', config: { NATS_URL: 'nats://127.0.0.1:1', NATS_STREAM: 'X' }, http: () => ({ send: { [EventTopic.KarmaLifeEvent]: async () => undefined }, batch: { [EventTopic.KarmaLifeEvent]: httpBatch } }) },
      [KarmaLife],
    );
    const sink = moduleRef.get(EventSink) as JetStreamEventSink<EventTopic.KarmaLifeEvent>;
    const publishBatch = jest.spyOn(sink.publisher, 'publishBatch').mockImplementation(async ({ items }) => items.map(() => ({ ok: true as const })));
    const traced = { ...message('karma.life-event', lifeBody), headers: { traceparent: '00-' + 'a'.repeat(32) + '-' + 'b'.repeat(16) + '-01' } };
    const second = { ...message('karma.life-event', { ...lifeBody, data: { ...lifeBody.data, event_id: 'e-2' } }), messageKey: 'k-2' };
    const results = await moduleRef.get(KarmaLife).deliverBatch!([traced, second]);
    expect(results).toEqual([{ ok: true }, { ok: true }]);
    expect(publishBatch).toHaveBeenCalledTimes(1);
    expect(publishBatch).toHaveBeenCalledWith({
      topic: 'karma.life-event',
      audience: 'karma',
      messageKeys: ['k-1', 'k-2'],
      items: [
        { body: lifeBody, traceparent: traced.headers.traceparent, tracestate: undefined },
        { body: second.payload, traceparent: undefined, tracestate: undefined },
      ],
    });
    expect(httpBatch).not.toHaveBeenCalled();
    await sink.close();
  });

  it('a handler for a hop the sink does not declare fails for good (dead letter), not as a retry', async () => {
    const Stray = EventHopHandler(EventTopic.CoreBucketEvent);
    const moduleRef = await boot({ name: 'test-events', config: {}, http: () => ({ [EventTopic.CoreKarmaEvent]: async () => undefined }) }, [Stray]);
    const failure = moduleRef.get(Stray).deliver(message('core.bucket-event', routerBody));
    await expect(failure).rejects.toBeInstanceOf(OutboxDeliveryError);
    await expect(failure).rejects.toMatchObject({ retryable: false, reason: expect.stringContaining('core.bucket-event') });
  });

  it('with NATS_URL, the sink is JetStream and is closed when the application shuts down', async () => {
    const http = jest.fn(() => ({ [EventTopic.CoreKarmaEvent]: async () => undefined }));
    const moduleRef = await boot({ name: 'test-events', config: { NATS_URL: 'nats://127.0.0.1:1', NATS_STREAM: 'X' }, http }, []);
    const app = moduleRef.createNestApplication();
    await app.init();
    const sink = app.get(EventSink);
    expect(sink).toBeInstanceOf(JetStreamEventSink);
    const close = jest.spyOn(sink, 'close');
    await app.close();
    expect(close).toHaveBeenCalledTimes(1);
  });
});
