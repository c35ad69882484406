import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import pinoHttp, { type Options } from 'pino-http';
import { loggerOptions } from './logger.options';

/** The completion lines a service writes, through pino-http with the service's own options. */
describe('loggerOptions', () => {
  let server: Server;
  let lines: Record<string, unknown>[];

  beforeEach(async () => {
    lines = [];
    const destination = new PassThrough();
    destination.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))));
    const [options, stream] = loggerOptions('svc', 'info', destination).pinoHttp as [Options, PassThrough];
    const logger = pinoHttp(options, stream);
    server = createServer((req, res) => {
      logger(req, res);
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
      res.statusCode = status;
      res.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterEach(async () => {
    server.close();
    await once(server, 'close');
  });

  async function get(path: string): Promise<void> {
    const { port } = server.address() as AddressInfo;
    const req = request({ host: '127.0.0.1', port, path });
    req.end();
    const [res] = await once(req, 'response');
    res.resume();
    await once(res, 'end');
  }

  /** The line of one request; the server writes it when the response finishes, before the client has all of it. */
  async function linesFor(path: string): Promise<Record<string, unknown>[]> {
    await get(path);
    await get('/?status=201&marker=1'); // a line written after the one asked about, so its absence is real
    await new Promise((resolve) => setImmediate(resolve));
    const marker = lines.findIndex((l) => (l.req as { url: string }).url === '/?status=201&marker=1');
    expect(marker).toBeGreaterThanOrEqual(0);
    const before = lines.slice(0, marker);
    lines = [];
    return before;
  }

  it('logs a request at info, a 4xx at warn and a 5xx at error, naming the service', async () => {
    expect(await linesFor('/a?status=200')).toEqual([expect.objectContaining({ level: 30, service: 'svc', res: { status_code: 200 } })]);
    expect(await linesFor('/a?status=404')).toEqual([expect.objectContaining({ level: 40, res: { status_code: 404 } })]);
    expect(await linesFor('/a?status=503')).toEqual([expect.objectContaining({ level: 50, res: { status_code: 503 } })]);
  });

  it('keeps a 304 (a poll that found nothing new) below the info level', async () => {
    expect(await linesFor('/api/workflows/catalog?status=304')).toEqual([]);
  });

  it('writes no line for health and metrics probes', async () => {
    expect(await linesFor('/health')).toEqual([]);
    expect(await linesFor('/metrics')).toEqual([]);
  });
});
