import { DomainException } from '../errors/domain.exception';
import { refuseQueryParameters, refuseUnknownQueryParameters } from './no-query-parameters';

function refusal(run: () => void): { status: number; body: { code: string; message: string; errors: { field: string; messages: string[] }[] } } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof DomainException)) throw error;
    return { status: error.getStatus(), body: error.getResponse() as never };
  }
  throw new Error('not refused');
}

describe('refuseUnknownQueryParameters', () => {
  const KNOWN = ['type', 'since', 'limit', 'cursor'];

  it('lets through the parameters the route defines, and none', () => {
    expect(() => refuseUnknownQueryParameters({}, KNOWN, 'GET /events')).not.toThrow();
    expect(() => refuseUnknownQueryParameters({ type: 'a', since: 'b', limit: '1', cursor: 'c' }, KNOWN, 'GET /events')).not.toThrow();
    expect(() => refuseUnknownQueryParameters({}, [], 'GET /events/:event_id')).not.toThrow();
  });

  it('is a 400 naming each unknown one (case matters: Type is not type) and saying what the route takes', () => {
    const { status, body } = refusal(() => refuseUnknownQueryParameters({ type: 'a', stauts: 'skipped', Type: 'b' }, KNOWN, 'GET /events'));
    expect(status).toBe(400);
    expect(body.code).toBe('bad_request');
    expect(body.message).toBe('unknown query parameters stauts, Type: GET /events takes type, since, limit, cursor');
    expect(body.errors).toEqual([
      { field: 'stauts', messages: ['is not a query parameter of GET /events'] },
      { field: 'Type', messages: ['is not a query parameter of GET /events'] },
    ]);
  });

  it('says "takes none" for a route without parameters, and adds the hint given for a name', () => {
    expect(refusal(() => refuseUnknownQueryParameters({ x: '1' }, [], 'GET /events/:event_id')).body.message).toBe('unknown query parameter x: GET /events/:event_id takes none');
    const { body } = refusal(() => refuseUnknownQueryParameters({ window: '1h' }, ['since'], 'GET /events/stats', { window: 'it takes since, not window' }));
    expect(body.errors).toEqual([{ field: 'window', messages: ['is not a query parameter of GET /events/stats: it takes since, not window'] }]);
  });

  it('names no hint for a name that is only on the prototype (constructor), and bounds what it lists', () => {
    const proto = refusal(() => refuseUnknownQueryParameters(JSON.parse('{"constructor":"1","__proto__":"2"}') as Record<string, unknown>, [], 'GET /x', {}));
    expect(proto.body.errors).toEqual([
      { field: 'constructor', messages: ['is not a query parameter of GET /x'] },
      { field: '__proto__', messages: ['is not a query parameter of GET /x'] },
    ]);
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`p${i}${'x'.repeat(200)}`, '1']));
    const { body } = refusal(() => refuseUnknownQueryParameters(many, KNOWN, 'GET /events'));
    expect(body.errors).toHaveLength(20);
    expect(body.errors[0].field).toHaveLength(80);
    expect(body.message).toMatch(/ and 980 more: GET \/events takes type, since, limit, cursor$/);
  });
});

describe('refuseQueryParameters (unchanged)', () => {
  it('is a 400 naming each parameter of a route that takes none and has effects', () => {
    expect(() => refuseQueryParameters({}, 'POST /x')).not.toThrow();
    const { status, body } = refusal(() => refuseQueryParameters({ dry: '1' }, 'POST /x'));
    expect([status, body.message]).toEqual([400, 'unknown query parameter dry: POST /x takes none, and nothing was started']);
  });
});
