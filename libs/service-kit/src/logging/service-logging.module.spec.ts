import { Controller, Get, Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { poll } from '@pancha/testing';
import type { AddressInfo } from 'node:net';
import { logLines } from './log-lines.test-helpers';
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

/** A service's Nest logging: what its code says through Nest's Logger and its requests' lines, in its own log. */
describe('useServiceLogging', () => {
  let app: INestApplication | undefined;
  afterAll(async () => {
    await app?.close();
  });

  it("writes what Nest's Logger says inside a request, and the request's completion line, to the service's log", async () => {
    const { destination, lines } = logLines();
    const moduleRef = await Test.createTestingModule({
      imports: [ServiceLoggingModule.forRoot('svc', 'info', destination)],
      controllers: [NoisyController],
    }).compile();
    app = moduleRef.createNestApplication({ bufferLogs: true });
    useServiceLogging(app);
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    expect((await fetch(`http://127.0.0.1:${port}/noisy`)).status).toBe(200);
    await poll('the completion line', async () => lines.find((l) => l.msg === 'request completed'));
    expect(lines.filter((l) => l.msg === 'written inside the request')).toEqual([expect.objectContaining({ service: 'svc', level: 40, context: 'Noisy' })]);
    expect(lines.filter((l) => l.msg === 'request completed')).toEqual([expect.objectContaining({ service: 'svc', req: { method: 'GET', url: '/noisy' } })]);
  });
});
