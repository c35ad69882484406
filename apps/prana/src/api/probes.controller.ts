import { Controller, Get, Res } from '@nestjs/common';
import { metricsRegistry, ServiceIdentityOptions } from '@pancha/service-kit';
import type { Response } from 'express';
import { OidcClientService } from '../auth/oidc-client.service';

/** Liveness, readiness (the provider's discovery is reachable) and metrics, as every Pancha service has them. */
@Controller()
export class ProbesController {
  constructor(
    private readonly identity: ServiceIdentityOptions,
    private readonly oidc: OidcClientService,
  ) {}

  @Get('health')
  health(): { status: 'ok'; service: string; environment: string } {
    return { status: 'ok', service: this.identity.service, environment: this.identity.environment };
  }

  /** Not ready while the sign-in provider cannot be discovered: nobody could sign in through this pod. */
  @Get('readyz')
  async ready(@Res() res: Response): Promise<void> {
    try {
      await this.oidc.discover();
      res.status(200).json({ status: 'ready', checks: { oidc_provider: 'up' } });
    } catch {
      res.status(503).json({ status: 'not_ready', checks: { oidc_provider: 'down' } });
    }
  }

  @Get('metrics')
  async metrics(@Res() res: Response): Promise<void> {
    res.setHeader('content-type', metricsRegistry.contentType);
    res.send(await metricsRegistry.metrics());
  }
}
