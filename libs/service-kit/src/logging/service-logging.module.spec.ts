import { Controller, Get, Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { poll } from '@pancha/testing';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { ServiceLoggingModule, useServiceLogging } from './service-logging.module';

@Controller()
class NoisyController {
  private readonly logger = new Logger('Noisy');

  @Get('noisy')
  noisy(): { ok: true } {
    this.logger.warn('written inside the request');
    return { ok: true };
  }
}

interface LoggingApp {
  app: INestApplication;
  url: string;
  lines: Record<string, unknown>[];
}

async function start(service: string): Promise<LoggingApp> {
  const lines: Record<string, unknown>[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))));
  const moduleRef = await Test.createTestingModule({
    imports: [ServiceLoggingModule.forRoot(service, 'info', destination)],
    controllers: [NoisyController],
  }).compile();
  const app = moduleRef.createNestApplication({ bufferLogs: true });
  useServiceLogging(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, lines };
}

/** A service's Nest logging: what its code says through Nest's Logger and its requests' lines, in its own log. */
describe('useServiceLogging', () => {
  let svc: LoggingApp | undefined;
  afterAll(async () => {
    await svc?.app.close();
  });

  it("writes what Nest's Logger says inside a request, and the request's completion line, to the service's log", async () => {
    svc = await start('svc');
    expect((await fetch(`${svc.url}/noisy`)).status).toBe(200);
    const lines = svc.lines;
    await poll('the completion line', async () => lines.find((l) => l.msg === 'request completed'));
    expect(lines.filter((l) => l.msg === 'written inside the request')).toEqual([expect.objectContaining({ service: 'svc', level: 40, context: 'Noisy' })]);
    expect(lines.filter((l) => l.msg === 'request completed')).toEqual([expect.objectContaining({ service: 'svc', req: { method: 'GET', url: '/noisy' } })]);
  });
});
