export {
  DEFAULT_NATS_STREAM,
  IsNatsStreamName,
  IsNatsUrl,
  NatsConfig,
  deadLetterSubject,
  natsSettings,
  subjectFor,
  type NatsEnv,
  type NatsSettings,
} from './nats.config';
export { DUPLICATE_WINDOW_MS, ensureStream, streamConfig } from './jetstream-stream';
export { NatsLinkManager, type NatsLink } from './nats-link';
export {
  createEventSink,
  EventSink,
  HttpEventSink,
  JetStreamEventSink,
  type EventSinkOptions,
  type EventBatchRoute,
  type HttpEventBatchRoute,
  type HttpEventBatchRoutes,
  type HttpEventRoutes,
} from './event-sink';
export { EventHopHandler, EventSinkModule, type EventSinkModuleOptions } from './event-sink.module';
export { JetStreamPublisher, type JetStreamBatchPublishInput, type JetStreamPublishInput, type JetStreamPublisherOptions } from './jetstream.publisher';
export { JetStreamServer, DLQ_HEADERS, headerRecord, type JetStreamServerOptions } from './jetstream.server';
export { JetStreamContext } from './jetstream.context';
export { JetStreamConsumer, JetStreamExceptionFilter } from './jetstream-consumer.decorator';
export { JetStreamRejection, dispositionForError, type MessageDisposition } from './message-disposition';
export { JetStreamConsumerHost, JetStreamConsumerModule, connectJetStream, type JetStreamConsumerModuleOptions } from './jetstream-consumer.module';
export { createTestStream, testNatsUrl, type TestStream } from './testing/test-stream';
export { consumedTopics } from './testing/consumed-topics';
