import type { ServiceName } from '../common/identity';

/**
 * Every topic that crosses a service boundary, named once. A topic is the producer's outbox topic and, over
 * JetStream, the subject after the stream prefix (`pancha.bucket.core-event`); the receiver's
 * `@EventPattern(...)` names the same constant, so a rename cannot silently break delivery.
 */
export enum EventTopic {
  /** Core → Bucket `core` channel: a task event. Body: BucketCoreEventBody. */
  BucketCoreEvent = 'bucket.core-event',
  /** Executor → Bucket `workflow` channel: a `workflow_execution` event. Body: BucketWorkflowEventBody. */
  BucketWorkflowEvent = 'bucket.workflow-event',
  /** Executor → Karma: a `life_event` for the user the workflow ran for. Body: KarmaLifeEventBody. */
  KarmaLifeEvent = 'karma.life-event',
  /**
   * Executor → Core's event router: a run ended (`workflow.completed` / `workflow.failed`), so a workflow can
   * trigger another. Body: PublishEventRequest (= POST /events).
   */
  CoreWorkflowEvent = 'core.workflow-event',
  /** Karma → Core's event router: `karma.role_changed`. Body: PublishEventRequest (= POST /events). */
  CoreKarmaEvent = 'core.karma-event',
  /** Bucket → Core's event router: `audit.verify_failed`. Body: PublishEventRequest (= POST /events). */
  CoreBucketEvent = 'core.bucket-event',
  /**
   * Core → Executor: run a decided workflow. A command, not an event: it always goes over HTTP because its
   * reply updates the task. Body: ExecuteWorkflowRequest.
   */
  WorkflowExecute = 'workflow-executor.execute',
}

/** The fire-and-forget event hops: they go over HTTP, or over JetStream when NATS_URL is set. */
export type EventHopTopic =
  | EventTopic.BucketCoreEvent
  | EventTopic.BucketWorkflowEvent
  | EventTopic.KarmaLifeEvent
  | EventTopic.CoreWorkflowEvent
  | EventTopic.CoreKarmaEvent
  | EventTopic.CoreBucketEvent;

export interface EventHop {
  /** Who produces it (its outbox holds the row). */
  producer: ServiceName;
  /** Who receives it: the audience of the token sent with it and the JetStream consumer that takes it. */
  receiver: ServiceName;
}

/** Producer and receiver of every event hop; the JetStream sink reads the audience from here. */
export const EVENT_HOPS: Readonly<Record<EventHopTopic, EventHop>> = {
  [EventTopic.BucketCoreEvent]: { producer: 'core', receiver: 'bucket' },
  [EventTopic.BucketWorkflowEvent]: { producer: 'workflow-executor', receiver: 'bucket' },
  [EventTopic.KarmaLifeEvent]: { producer: 'workflow-executor', receiver: 'karma' },
  [EventTopic.CoreWorkflowEvent]: { producer: 'workflow-executor', receiver: 'core' },
  [EventTopic.CoreKarmaEvent]: { producer: 'karma', receiver: 'core' },
  [EventTopic.CoreBucketEvent]: { producer: 'bucket', receiver: 'core' },
};

export const EVENT_HOP_TOPICS: readonly EventHopTopic[] = Object.keys(EVENT_HOPS) as EventHopTopic[];

/** Whether a topic is one of the event hops (not the executor command, not a batch topic). */
export function isEventHopTopic(topic: string): topic is EventHopTopic {
  return (EVENT_HOP_TOPICS as readonly string[]).includes(topic);
}

/** The hops a service receives (its JetStream consumer must handle exactly these). */
export function eventHopsReceivedBy(service: ServiceName): EventHopTopic[] {
  return EVENT_HOP_TOPICS.filter((topic) => EVENT_HOPS[topic].receiver === service);
}

/** The hops a service produces (its outbox must have a handler for each). */
export function eventHopsProducedBy(service: ServiceName): EventHopTopic[] {
  return EVENT_HOP_TOPICS.filter((topic) => EVENT_HOPS[topic].producer === service);
}

const EVENT_BATCH_SUFFIX = '.batch';

/**
 * Over JetStream a relay's batch of one hop travels as one message on `<topic>.batch` (`pancha.bucket.core-event.batch`),
 * its body the hop's HTTP batch body (EventBatchRequest: `{ events: [{ body, traceparent }] }`); the receiver handles it
 * with its batch method (one transaction, one outcome per event) and settles each event on its own.
 */
export function eventBatchTopic(topic: EventHopTopic): string {
  return `${topic}${EVENT_BATCH_SUFFIX}`;
}

/** The hop a batch topic carries (`bucket.core-event.batch` → `bucket.core-event`), or undefined for any other topic. */
export function hopOfEventBatchTopic(topic: string): EventHopTopic | undefined {
  if (!topic.endsWith(EVENT_BATCH_SUFFIX)) return undefined;
  const hop = topic.slice(0, -EVENT_BATCH_SUFFIX.length);
  return isEventHopTopic(hop) ? hop : undefined;
}

/** What a service's JetStream consumer handles: each hop it receives, as single events and as batches. */
export function consumedEventTopicsOf(service: ServiceName): string[] {
  return eventHopsReceivedBy(service)
    .flatMap((topic) => [topic, eventBatchTopic(topic)])
    .sort();
}
