import { eventHopsReceivedBy } from '@pancha/contracts';
import { consumedTopics } from '@pancha/nats-transport';
import { EventsConsumerController } from './events-consumer.controller';

describe("Bucket's JetStream consumer", () => {
  it('handles exactly the event hops the contracts route to Bucket, by their contract names', () => {
    expect(eventHopsReceivedBy('bucket').sort()).toEqual(['bucket.core-event', 'bucket.workflow-event']);
    expect(consumedTopics(EventsConsumerController)).toEqual(eventHopsReceivedBy('bucket').sort());
  });
});
