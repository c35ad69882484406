import { RequesterId } from '@pancha/contracts';
import type { WriteEventRequestDto } from '@pancha/contracts';
import { getTracer, installInMemoryTracing } from '@pancha/trace-context';
import type { PolicyService } from '@pancha/governance';
import type { LedgerReader } from '../ledger/ledger-reader';
import type { LedgerService, NewEvent } from '../ledger/ledger.service';
import { EventsService } from './events.service';

describe('EventsService.write', () => {
  installInMemoryTracing();
  const appended: NewEvent[] = [];
  const ledger = {
    append: async (events: NewEvent[]) => {
      appended.push(...events);
      return events.map((e, i) => ({ status: 'appended' as const, event_id: e.event_id, seq: i + 1, hash: 'h' }));
    },
  } as unknown as LedgerService;
  // Channel ownership is tested against the real policy elsewhere; here every channel is open.
  const service = new EventsService(ledger, {} as LedgerReader, { mayWriteChannel: () => true } as unknown as PolicyService);
  const requester = { id: RequesterId.Core, products: ['*'] };
  const body = (eventData: Record<string, unknown>) =>
    ({ requester_id: 'bhiv_core', event_data: eventData }) as unknown as WriteEventRequestDto;

  beforeEach(() => (appended.length = 0));

  it('records the active W3C trace id when event_data carries none', async () => {
    const data = { event_id: '6f1c1a52-8b0e-4a36-9d7e-0d5c2b1f3a11', event_type: 't' };
    const traceId = await getTracer().startActiveSpan('request', async (span) => {
      await service.write('core', body(data), data, requester);
      span.end();
      return span.spanContext().traceId;
    });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(appended[0]).toMatchObject({ trace_id: traceId, channel: 'core', event_data: data });
  });

  it('prefers the producer\'s trace_id from event_data', async () => {
    const data = { event_id: '6f1c1a52-8b0e-4a36-9d7e-0d5c2b1f3a12', event_type: 't', trace_id: 'c'.repeat(32) };
    await getTracer().startActiveSpan('request', async (span) => {
      await service.write('workflow', body(data), data, requester);
      span.end();
    });
    expect(appended[0]).toMatchObject({ trace_id: 'c'.repeat(32), channel: 'workflow' });
  });

  it('stores null without a trace anywhere', async () => {
    const data = { event_id: '6f1c1a52-8b0e-4a36-9d7e-0d5c2b1f3a13', event_type: 't' };
    await service.write('core', body(data), data, requester);
    expect(appended[0].trace_id).toBeNull();
  });
});
