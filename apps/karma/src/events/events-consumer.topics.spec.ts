import { consumedEventTopicsOf, eventHopsReceivedBy } from '@pancha/contracts';
import { consumedTopics } from '@pancha/nats-transport';
import { EventsConsumerController } from './events-consumer.controller';

describe("Karma's JetStream consumer", () => {
  it('handles exactly the event hops the contracts route to Karma (single and batched), by their contract names', () => {
    expect(eventHopsReceivedBy('karma')).toEqual(['karma.life-event']);
    expect(consumedTopics(EventsConsumerController)).toEqual(consumedEventTopicsOf('karma'));
  });
});
