import { consumedEventTopicsOf, eventHopsReceivedBy } from '@pancha/contracts';
import { consumedTopics } from '@pancha/nats-transport';
import { EventsConsumerController } from './events-consumer.controller';

describe("Bucket's JetStream consumer", () => {
  it('handles exactly the event hops the contracts route to Bucket (single and batched), by their contract names', () => {
    expect(eventHopsReceivedBy('bucket').sort()).toEqual(['bucket.core-event', 'bucket.workflow-event']);
    expect(consumedEventTopicsOf('bucket')).toEqual(['bucket.core-event', 'bucket.core-event.batch', 'bucket.workflow-event', 'bucket.workflow-event.batch']);
    expect(consumedTopics(EventsConsumerController)).toEqual(consumedEventTopicsOf('bucket'));
  });
});
