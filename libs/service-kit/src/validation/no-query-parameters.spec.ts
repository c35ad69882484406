import { Controller, Get, type INestApplication, Param, Query } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import request from 'supertest';
import { ApiExceptionFilter } from '../errors/api-exception.filter';
import { DomainException } from '../errors/domain.exception';
import { QueryParameters, refuseQueryParameters, refuseUnknownQueryParameters } from './no-query-parameters';
import { createValidationPipe } from './validation.pipe';

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

describe('refuseUnknownQueryParameters: a parameter given more than once', () => {
  const KNOWN = ['type', 'since', 'limit', 'cursor'];

  it('is a 422 naming each (an array is how a repeated name arrives), after the unknown ones are refused', () => {
    const { status, body } = refusal(() => refuseUnknownQueryParameters({ type: ['a', 'b'], limit: '1', since: ['x', 'y'] }, KNOWN, 'GET /events'));
    expect(status).toBe(422);
    expect(body.code).toBe('validation_failed');
    expect(body.message).toBe('type is given more than once; since is given more than once');
    expect(body.errors).toEqual([
      { field: 'type', messages: ['is given more than once'] },
      { field: 'since', messages: ['is given more than once'] },
    ]);
    expect(refusal(() => refuseUnknownQueryParameters({ type: ['a', 'b'], typ: 'x' }, KNOWN, 'GET /events')).status).toBe(400);
    // An object (a query parser that reads brackets) is no single value either.
    expect(refusal(() => refuseUnknownQueryParameters({ type: { a: '1' } }, KNOWN, 'GET /events')).body.errors).toEqual([{ field: 'type', messages: ['must be a single value'] }]);
  });
});

class ListQuery {
  @IsOptional() @IsString()
  trace_id?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;
}

@Controller('things')
class ThingsController {
  @Get()
  @QueryParameters(['trace_id', 'limit'], { traceid: 'the trace filter is trace_id' })
  list(@Query() query: ListQuery): unknown {
    return { query };
  }

  @Get(':id/parts')
  @QueryParameters([])
  parts(@Param('id') id: string): unknown {
    return { id };
  }
}

describe('@QueryParameters (before the query DTO is validated)', () => {
  let app: INestApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ controllers: [ThingsController] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalPipes(createValidationPipe());
    app.useGlobalFilters(new ApiExceptionFilter());
    await app.init();
  });

  afterAll(() => app?.close());

  it('answers the parameters the route takes', async () => {
    const res = await request(app.getHttpServer()).get('/things?trace_id=abc&limit=2');
    expect([res.status, res.body]).toEqual([200, { query: { trace_id: 'abc', limit: 2 } }]);
    expect((await request(app.getHttpServer()).get('/things/7/parts')).status).toBe(200);
  });

  it('refuses an unknown one with a 400 naming it and the route as declared, not the unfiltered answer', async () => {
    for (const [url, field, route] of [
      ['/things?traceid=abc&limit=2', 'traceid', 'GET /things'],
      ['/things?trace_id[a]=1', 'trace_id[a]', 'GET /things'],
      ['/things/7/parts?verbose=1', 'verbose', 'GET /things/:id/parts'],
    ]) {
      const res = await request(app.getHttpServer()).get(url);
      expect({ url, status: res.status, code: res.body.code, errors: res.body.errors }).toEqual({
        url,
        status: 400,
        code: 'bad_request',
        errors: [{ field, messages: [expect.stringMatching(new RegExp(`^is not a query parameter of ${route.replace(/[/:]/g, '\\$&')}`))] }],
      });
      expect(res.body.query).toBeUndefined();
    }
    const hinted = await request(app.getHttpServer()).get('/things?traceid=abc');
    expect(hinted.body.errors[0].messages[0]).toBe('is not a query parameter of GET /things: the trace filter is trace_id');
    expect(hinted.body.message).toBe('unknown query parameter traceid: GET /things takes trace_id, limit');
  });

  it('refuses a repeated one with a 422 "is given more than once", not the DTO validators\' words', async () => {
    for (const [url, field] of [
      ['/things?limit=1&limit=2', 'limit'],
      ['/things?trace_id=a&trace_id=b', 'trace_id'],
    ]) {
      const res = await request(app.getHttpServer()).get(url);
      expect([url, res.status, res.body.code, res.body.errors]).toEqual([url, 422, 'validation_failed', [{ field, messages: ['is given more than once'] }]]);
    }
  });
});

describe('refuseQueryParameters (unchanged)', () => {
  it('is a 400 naming each parameter of a route that takes none and has effects', () => {
    expect(() => refuseQueryParameters({}, 'POST /x')).not.toThrow();
    const { status, body } = refusal(() => refuseQueryParameters({ dry: '1' }, 'POST /x'));
    expect([status, body.message]).toEqual([400, 'unknown query parameter dry: POST /x takes none, and nothing was started']);
  });
});
