import { Controller, Get, Headers, HttpStatus, Inject, Res } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { HealthResponse } from '@pancha/contracts';
import { Public } from '@pancha/governance';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { ServiceIdentityOptions } from '../service-identity';
import { renderMetrics } from './metrics';

@Public()
@Controller()
export class HealthController {
  constructor(
    @Inject(ServiceIdentityOptions) private readonly identity: ServiceIdentityOptions,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Liveness: the process answers. It never depends on another service or the database. */
  health(): HealthResponse {
    return {
      status: 'ok',
      service: this.identity.service,
      environment: this.identity.environment,
      timestamp: new Date().toISOString(),
    };
  }

  @Get('health')
  getHealth(): HealthResponse {
    return this.health();
  }

  @Get('healthz')
  getHealthz(): HealthResponse {
    return this.health();
  }

  /** Readiness: fails while this service's own database is unreachable. */
  @Get('readyz')
  async ready(@Res() res: Response): Promise<void> {
    try {
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('database ping timed out')), 2000).unref()),
      ]);
      res.status(HttpStatus.OK).json({ status: 'ready', service: this.identity.service, database: 'up' });
    } catch (error) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE).json({
        code: 'not_ready',
        message: `database unreachable: ${(error as Error).message}`,
        service: this.identity.service,
        database: 'down',
      });
    }
  }

  /** Prometheus text format, or OpenMetrics with trace exemplars when the Accept header asks for it. */
  @Get('metrics')
  async metrics(@Headers('accept') accept: string | undefined, @Res() res: Response): Promise<void> {
    const { contentType, body } = await renderMetrics(accept);
    res.setHeader('content-type', contentType);
    res.send(body);
  }
}
