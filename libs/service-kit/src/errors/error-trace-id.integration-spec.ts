// Every error body names the trace of the request it answers (`trace_id`), whatever failed and wherever: an operator
// finds the request in Jaeger by it. Through a service built by configureApp, traced the way `register` traces one.
import { Body, Controller, Get, HttpStatus, Module, Post } from '@nestjs/common';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { CommonErrorCode, MAX_BODY_BYTES } from '@pancha/contracts';
import { currentTraceId, installInMemoryTracing, SpanKind } from '@pancha/trace-context';
import { bootService, deferred, poll, type TestService } from '@pancha/testing';
import { IsString } from 'class-validator';
import { randomBytes } from 'node:crypto';
import { GroupCommit } from '../concurrency/group-commit';
import { DomainException } from './domain.exception';

// What `register` does in a service: a recording tracer and the http instrumentation, so each incoming request has
// a server span (a child of the caller's traceparent when it sends one). Under Jest require hooks never see `http`
// load, so the patch is applied directly, and undone after the file (Node's http module is shared by the worker).
// Without it (a recording tracer alone) a request has no span of its own and every error body says trace_id: null.
const tracing = installInMemoryTracing();
const httpInstrumentation = new HttpInstrumentation();
type ModuleDefinition = { name: string; patch?: (m: unknown, v?: string) => unknown; unpatch?: (m: unknown, v?: string) => void };
const httpDefinitions = (httpInstrumentation as unknown as { _modules: ModuleDefinition[] })._modules.filter((d) => d.name === 'http');
for (const definition of httpDefinitions) definition.patch?.(require('node:http'), process.versions.node);

/** The trace of each commit's call, and the answer every commit waits for (then fails: an unexpected error). */
const commitTraces: (string | undefined)[] = [];
const commitMayFail = deferred();
const writes = new GroupCommit<string, never>(
  async (items) => {
    commitTraces.push(currentTraceId());
    await commitMayFail.promise;
    throw new Error(`the commit of ${items.length} failed`);
  },
  { maxBatch: 10 },
);

class NameDto {
  @IsString()
  name!: string;
}

@Controller('probe')
class ProbeController {
  /** The success path's trace id, for comparison. */
  @Get('ok')
  ok(): { trace_id: string | null } {
    return { trace_id: currentTraceId() ?? null };
  }

  @Get('throw')
  throwNow(): never {
    throw new Error('a bug');
  }

  @Get('throw-after-await')
  async throwLater(): Promise<never> {
    await new Promise((resolve) => setImmediate(resolve));
    throw new Error('a later bug');
  }

  @Get('conflict')
  conflict(): never {
    throw new DomainException(HttpStatus.CONFLICT, 'probe_conflict', 'taken');
  }

  @Post('names')
  names(@Body() body: NameDto): NameDto {
    return body;
  }

  @Get('write')
  write(): Promise<never> {
    return writes.submit('item');
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

let svc: TestService;
beforeAll(async () => {
  svc = await bootService(ProbeModule);
});
afterAll(async () => {
  await svc?.close();
  for (const definition of httpDefinitions) definition.unpatch?.(require('node:http'), process.versions.node);
});

const newTraceId = () => randomBytes(16).toString('hex');

interface Sent {
  method?: string;
  body?: string | ReadableStream<Uint8Array>;
  contentType?: string;
  contentEncoding?: string;
  /** The caller's trace: sent as traceparent, so the server span (and the answer) must be in it. */
  traceId?: string;
}

async function send(path: string, { method = 'GET', body, contentType, contentEncoding, traceId }: Sent = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (contentType) headers['content-type'] = contentType;
  if (contentEncoding) headers['content-encoding'] = contentEncoding;
  if (traceId) headers.traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
  const res = await fetch(`${svc.url}${path}`, { method, headers, body, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A body too large for the limit, sent in chunks without a length: body-parser refuses it while reading. */
function streamedOversizedBody(): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent > MAX_BODY_BYTES) return controller.close();
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

describe('trace_id in error bodies', () => {
  it.each<[string, string, Omit<Sent, 'traceId'>, number, string]>([
    ['an unexpected Error thrown by a handler', '/probe/throw', {}, 500, CommonErrorCode.Internal],
    ['an unexpected Error thrown after an await', '/probe/throw-after-await', {}, 500, CommonErrorCode.Internal],
    ['a DomainException', '/probe/conflict', {}, 409, 'probe_conflict'],
    ['a body the validation pipe refuses', '/probe/names', { method: 'POST', contentType: 'application/json', body: '{}' }, 422, CommonErrorCode.ValidationFailed],
    ['a body that is not JSON', '/probe/names', { method: 'POST', contentType: 'application/json', body: '{"name":' }, 400, CommonErrorCode.InvalidJson],
    [
      'a body over the limit (declared length)',
      '/probe/names',
      { method: 'POST', contentType: 'application/json', body: JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES) }) },
      413,
      CommonErrorCode.PayloadTooLarge,
    ],
    ['a body in a media type other than JSON', '/probe/names', { method: 'POST', contentType: 'text/plain', body: 'x' }, 415, CommonErrorCode.UnsupportedMediaType],
    ['an unknown route', '/no-such-route', {}, 404, CommonErrorCode.NotFound],
    // A body that does not decode as its Content-Encoding says (a 500 before: the error has a status but no type).
    ...(['gzip', 'deflate', 'br'] as const).map((encoding): [string, string, Omit<Sent, 'traceId'>, number, string] => [
      `a body that is not ${encoding}`,
      '/probe/names',
      { method: 'POST', contentType: 'application/json', contentEncoding: encoding, body: '{"name":"x"}' },
      400,
      CommonErrorCode.BadRequest,
    ]),
  ])('names the caller\'s trace for %s (%s)', async (_what, path, sent, status, code) => {
    const traceId = newTraceId();
    const res = await send(path, { ...sent, traceId });
    expect(res).toEqual({ status, body: expect.objectContaining({ code, trace_id: traceId }) });
  });

  it('names the caller\'s trace for a body over the limit found while reading it (no declared length)', async () => {
    const traceId = newTraceId();
    const res = await send('/probe/names', { method: 'POST', contentType: 'application/json', body: streamedOversizedBody(), traceId });
    expect(res).toEqual({ status: 413, body: expect.objectContaining({ code: CommonErrorCode.PayloadTooLarge, trace_id: traceId }) });
  });

  it('answers the same trace id as the success path', async () => {
    const traceId = newTraceId();
    expect((await send('/probe/ok', { traceId })).body).toEqual({ trace_id: traceId });
    expect((await send('/probe/throw', { traceId })).body).toMatchObject({ trace_id: traceId });
  });

  it('names the request\'s own server span\'s trace when the caller sent no traceparent (never a new id)', async () => {
    const query = `request=${randomBytes(8).toString('hex')}`;
    const res = await send(`/probe/throw?${query}`);
    expect(res.status).toBe(500);
    expect(res.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const span = await poll('the request\'s server span', () =>
      tracing.spans().find((s) => s.kind === SpanKind.SERVER && s.attributes['url.query'] === query),
    );
    expect(span.spanContext().traceId).toBe(res.body.trace_id);
    expect(span.parentSpanContext).toBeUndefined();
  });

  it('names each request\'s own trace when a group commit rejects it from another request\'s async context', async () => {
    const [first, second] = [newTraceId(), newTraceId()];
    const firstAnswer = send('/probe/write', { traceId: first });
    await poll('the first request\'s commit to start', () => commitTraces.length === 1);
    const secondAnswer = send('/probe/write', { traceId: second });
    await poll('the second request to queue for the next commit', () => writes.queued === 1);
    commitMayFail.resolve();
    const answers = await Promise.all([firstAnswer, secondAnswer]);
    // Both commits ran in the first request's context: the second request's promise was rejected from there.
    expect(commitTraces).toEqual([first, first]);
    expect(answers).toEqual([
      { status: 500, body: expect.objectContaining({ code: CommonErrorCode.Internal, trace_id: first }) },
      { status: 500, body: expect.objectContaining({ code: CommonErrorCode.Internal, trace_id: second }) },
    ]);
  });
});
