import { Controller, Get } from '@nestjs/common';
import { UpstreamService, type Upstream } from './upstream.service';

const PROBES: Record<Upstream, string> = { core: '/health', 'workflow-executor': '/healthz', bucket: '/health', karma: '/health' };
const NAMES: Record<Upstream, string> = { core: 'core', 'workflow-executor': 'executor', bucket: 'bucket', karma: 'karma' };

/** Which service is up, so the console can say which one is down instead of showing a blank page. */
@Controller('api')
export class HealthController {
  constructor(private readonly upstream: UpstreamService) {}

  @Get('health')
  async health(): Promise<{ services: Record<string, 'up' | 'down'> }> {
    const entries = await Promise.all(
      (Object.keys(PROBES) as Upstream[]).map(async (service) => {
        try {
          const answer = await this.upstream.call(service, 'GET', PROBES[service], { timeoutMs: 3000 });
          return [NAMES[service], answer.status === 200 ? 'up' : 'down'] as const;
        } catch {
          return [NAMES[service], 'down'] as const;
        }
      }),
    );
    return { services: Object.fromEntries(entries) };
  }
}
