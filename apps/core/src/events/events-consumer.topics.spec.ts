import { consumedEventTopicsOf, eventHopsReceivedBy } from '@pancha/contracts';
import { consumedTopics } from '@pancha/nats-transport';
import { EventsConsumerController } from './events-consumer.controller';

describe("Core's JetStream consumer", () => {
  it('handles exactly the event hops Core receives', () => {
    expect(eventHopsReceivedBy('core')).toEqual(['core.workflow-event', 'core.karma-event', 'core.bucket-event']);
    expect(consumedTopics(EventsConsumerController)).toEqual(consumedEventTopicsOf('core'));
  });
});
