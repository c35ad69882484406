import { deriveEventId } from './derived-event-id';

describe('deriveEventId (the key of a write without event_id)', () => {
  it('is the RFC 4122 version 5 uuid of requester and canonical content (same as any v5 implementation)', () => {
    // Python: uuid.uuid5(UUID('6c1b9f8e-3d2a-4e57-9b0c-5f1e7a2d4c80'), 'workflow_executor\n{"a":1,"event_type":"x"}')
    expect(deriveEventId('workflow_executor', { event_type: 'x', a: 1 })).toBe('59a9e123-93a8-5b3f-898d-47d244a803ce');
  });

  it('ignores key order and separates requesters and contents', () => {
    const a = deriveEventId('bhiv_core', { event_type: 't', nested: { x: 1, y: [1, 2] } });
    expect(deriveEventId('bhiv_core', { nested: { y: [1, 2], x: 1 }, event_type: 't' })).toBe(a);
    expect(deriveEventId('prana', { event_type: 't', nested: { x: 1, y: [1, 2] } })).not.toBe(a);
    expect(deriveEventId('bhiv_core', { event_type: 't', nested: { x: 1, y: [2, 1] } })).not.toBe(a);
  });

  it('numbers further candidates of the same event (the ledger passes over ones another entry holds)', () => {
    const data = { event_type: 'x', a: 1 };
    // Python: uuid.uuid5(UUID('6c1b9f8e-3d2a-4e57-9b0c-5f1e7a2d4c80'), 'workflow_executor\n{"a":1,"event_type":"x"}\n1')
    expect(deriveEventId('workflow_executor', data, 1)).toBe('eeb70e64-8689-5a27-8ecb-2d80a698d26f');
    const ids = new Set([0, 1, 2, 3].map((k) => deriveEventId('workflow_executor', data, k)));
    expect(ids.size).toBe(4);
    expect(deriveEventId('workflow_executor', data, 0)).toBe(deriveEventId('workflow_executor', data));
    expect(() => deriveEventId('workflow_executor', data, -1)).toThrow(RangeError);
  });
});
