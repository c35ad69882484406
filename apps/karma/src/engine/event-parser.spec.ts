import { KarmaEventType } from '@pancha/contracts';
import { loadKarmaConfig } from '../config/karma-config';
import { parseKarmaEvent } from './event-parser';

const cfg = loadKarmaConfig();
const now = Date.parse('2026-11-21T00:00:00Z');

describe('parseKarmaEvent vocabulary', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])(
    'refuses %s as an action (no inherited member passes as a known name)',
    (action) => {
      let thrown: unknown;
      try {
        parseKarmaEvent(cfg, { type: KarmaEventType.LifeEvent, data: { user_id: 'u', action } }, now);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeDefined();
      expect((thrown as { getStatus(): number }).getStatus()).toBe(422);
      expect(JSON.stringify((thrown as { getResponse(): unknown }).getResponse())).toContain('data.action');
    },
  );

  it('accepts a known action, whatever its case', () => {
    expect(() => parseKarmaEvent(cfg, { type: KarmaEventType.LifeEvent, data: { user_id: 'u', action: 'DEEP_FOCUS' } }, now)).not.toThrow();
  });
});
