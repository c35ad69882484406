import { consumedEventTopicsOf, eventBatchTopic, EventTopic, hopOfEventBatchTopic } from './event-topics';

describe('event batch topics', () => {
  it('names a hop\'s batch `<topic>.batch` and reads the hop back, for event hops only', () => {
    expect(eventBatchTopic(EventTopic.KarmaLifeEvent)).toBe('karma.life-event.batch');
    expect(hopOfEventBatchTopic('karma.life-event.batch')).toBe(EventTopic.KarmaLifeEvent);
    expect(hopOfEventBatchTopic('karma.life-event')).toBeUndefined();
    expect(hopOfEventBatchTopic('karma.test-event.batch')).toBeUndefined();
    // The executor command is not an event hop: it has no batch over JetStream.
    expect(hopOfEventBatchTopic(`${EventTopic.WorkflowExecute}.batch`)).toBeUndefined();
  });

  it('lists what a consumer handles: each hop it receives, single and batched', () => {
    expect(consumedEventTopicsOf('karma')).toEqual(['karma.life-event', 'karma.life-event.batch']);
    expect(consumedEventTopicsOf('workflow-executor')).toEqual([]);
  });
});
