import { poll } from '@pancha/testing';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { logLines } from './log-lines.test-helpers';
import { requestLog, type RequestLogOptions } from './request-log.middleware';
import { serviceLogger } from './service-logging.module';

/** The completion lines a service writes: requestLog on a plain node:http server, with the service's logger. */
describe('requestLog', () => {
  let server: Server;
  let lines: Record<string, unknown>[];
  let logger: Logger;
  let hold: Promise<void> | undefined;
  let reached: () => void = () => undefined;

  async function start(level: string, options: RequestLogOptions = {}): Promise<void> {
    const log = logLines();
    lines = log.lines;
    logger = serviceLogger('svc', level, log.destination);
    const logRequest = requestLog(logger, options);
    server = createServer((req, res) => {
      logRequest(req, res, () => {
        const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
        res.statusCode = status;
        reached();
        if (hold) void hold.then(() => res.end());
        else res.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }

  afterEach(async () => {
    server.close();
    server.closeAllConnections();
    await once(server, 'close');
    hold = undefined;
    reached = () => undefined;
  });

  async function get(path: string): Promise<void> {
    const { port } = server.address() as AddressInfo;
    const req = request({ host: '127.0.0.1', port, path });
    req.end();
    const [res] = await once(req, 'response');
    res.resume();
    await once(res, 'end');
  }

  /** The lines of one request; the server writes them when the response finishes, before the client has all of it. */
  async function linesFor(path: string, markerStatus = 201): Promise<Record<string, unknown>[]> {
    await get(path);
    const markerPath = `/?status=${markerStatus}&marker=1`;
    await get(markerPath); // a line written after the one asked about (at a status the level keeps), so its absence is real
    const marker = await poll('the marker line', async () => {
      const at = lines.findIndex((l) => (l.req as { url: string } | undefined)?.url === markerPath);
      return at >= 0 ? at : undefined;
    });
    const before = lines.slice(0, marker);
    lines.length = 0;
    return before;
  }

  it('logs a request at info, a 4xx at warn and a 5xx at error, naming the service, the route, the status and the time taken', async () => {
    await start('info');
    expect(await linesFor('/a?status=200')).toEqual([
      expect.objectContaining({ level: 30, service: 'svc', msg: 'request completed', req: { method: 'GET', url: '/a?status=200' }, res: { status_code: 200 }, responseTime: expect.any(Number) }),
    ]);
    expect(await linesFor('/a?status=404')).toEqual([expect.objectContaining({ level: 40, msg: 'request completed', res: { status_code: 404 } })]);
    expect(await linesFor('/a?status=503')).toEqual([
      expect.objectContaining({ level: 50, msg: 'request errored', res: { status_code: 503 }, err: expect.objectContaining({ message: 'failed with status code 503' }) }),
    ]);
  });

  it('keeps a 304 (a poll that found nothing new) below the info level', async () => {
    await start('info');
    expect(await linesFor('/api/workflows/catalog?status=304')).toEqual([]);
  });

  it('writes no line for health and metrics probes', async () => {
    await start('info');
    expect(await linesFor('/health')).toEqual([]);
    expect(await linesFor('/metrics')).toEqual([]);
  });

  it('below its level builds nothing for a request: no line, no child logger, no call to the level method', async () => {
    await start('warn');
    const child = jest.spyOn(logger, 'child');
    const info = jest.spyOn(logger, 'info');
    expect(await linesFor('/a?status=200', 418)).toEqual([]);
    expect(await linesFor('/a?status=409', 418)).toEqual([expect.objectContaining({ level: 40, res: { status_code: 409 } })]);
    expect(child).not.toHaveBeenCalled();
    expect(info).not.toHaveBeenCalled();
  });

  it('logs the requests `quieter` names at debug where they would be info, and keeps their 4xx at warn', async () => {
    await start('info', { quieter: (req) => req.url?.startsWith('/assets/') ?? false });
    expect(await linesFor('/assets/app.js')).toEqual([]);
    expect(await linesFor('/assets/gone.js?status=404')).toEqual([expect.objectContaining({ level: 40, res: { status_code: 404 } })]);
    expect(await linesFor('/api/x')).toEqual([expect.objectContaining({ level: 30, req: { method: 'GET', url: '/api/x' } })]);
  });

  it('says a request was aborted when the client went away before the answer', async () => {
    await start('info');
    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    const { port } = server.address() as AddressInfo;
    const req = request({ host: '127.0.0.1', port, path: '/slow' });
    req.on('error', () => undefined);
    req.end();
    await arrived;
    req.destroy();
    const line = await poll('the aborted line', async () => lines.find((l) => (l.req as { url: string }).url === '/slow'));
    release();
    expect(line).toEqual(expect.objectContaining({ level: 30, msg: 'request aborted', req: { method: 'GET', url: '/slow' } }));
  });
});
