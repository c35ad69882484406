import { normalizeIp } from '@nestjs/throttler';

/**
 * The client a rate limit counts against: Express's `req.ip` (the socket address, or the forwarded one
 * the TRUST_PROXY setting believes), with IPv4-mapped IPv6 unwrapped and IPv6 grouped by /64.
 */
export function clientAddress(req: { ip?: string; socket?: { remoteAddress?: string } }): string {
  return normalizeIp(req.ip ?? req.socket?.remoteAddress ?? 'unknown');
}
