import type { RequesterId, ServiceName } from '@pancha/contracts';

/** Who this process is: the audience it accepts tokens for and the requester id it signs as. */
export class GovernanceConfig {
  constructor(
    readonly service: ServiceName,
    readonly self: RequesterId,
  ) {}
}
