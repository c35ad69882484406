import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpTimeouts {
  /** The whole request must have arrived by then. */
  requestTimeoutMs: number;
  /** The headers must have arrived by then; also how long a new connection may stay silent. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
}

/**
 * Bounds how long a client can hold a socket without completing a request (slow-loris): Node's request and
 * headers timeouts (answered 408 and closed), the keep-alive idle timeout, and — which Node has no setting
 * for — a connection that sends nothing at all, closed after the headers timeout. Node checks the first two
 * only every `connectionsCheckingInterval` (30 s by default), so that is tightened to a quarter of the
 * shorter one; a response being computed is never cut.
 */
export function applyHttpTimeouts(server: Server, timeouts: HttpTimeouts): void {
  server.requestTimeout = timeouts.requestTimeoutMs;
  server.headersTimeout = Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs);
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(
    100,
    Math.min(1000, Math.floor(server.headersTimeout / 4)),
  );

  const served = new WeakSet<Socket>();
  server.on('connection', (socket: Socket) => {
    // Destroyed by Node's own socket 'timeout' handling when nothing listens on the request.
    socket.setTimeout(server.headersTimeout);
  });
  server.on('request', (req: { socket: Socket }) => {
    if (served.has(req.socket)) return;
    served.add(req.socket);
    // From the first request on, Node's request/headers/keep-alive timeouts govern the socket.
    req.socket.setTimeout(0);
  });
}
