import type { ExecutionContext } from '@nestjs/common';
import type { VerifiedRequester } from './verified-requester';

/** The HTTP request as the guard sees it (Express or Fastify alike). */
export interface RequestWithRequester {
  headers: Record<string, string | string[] | undefined>;
  requester?: VerifiedRequester;
}

/** Message-based handlers (NATS) have no request object; the requester hangs off the transport context. */
const rpcRequesters = new WeakMap<object, VerifiedRequester>();

interface HeaderBag {
  get(name: string): string | undefined;
}
interface RpcContextWithHeaders {
  getHeaders?(): HeaderBag | Record<string, string | undefined> | undefined;
}

export function authorizationHeader(ctx: ExecutionContext): string | undefined {
  if (ctx.getType() === 'http') {
    const value = ctx.switchToHttp().getRequest<RequestWithRequester>().headers['authorization'];
    return Array.isArray(value) ? value[0] : value;
  }
  if (ctx.getType() === 'rpc') {
    const headers = (ctx.switchToRpc().getContext<RpcContextWithHeaders>()?.getHeaders?.() ?? undefined) as
      | HeaderBag
      | Record<string, string | undefined>
      | undefined;
    if (!headers) return undefined;
    const value = typeof headers.get === 'function' ? (headers as HeaderBag).get('authorization') : (headers as Record<string, string | undefined>)['authorization'];
    return value || undefined;
  }
  return undefined;
}

export function attachRequester(ctx: ExecutionContext, requester: VerifiedRequester): void {
  if (ctx.getType() === 'http') {
    ctx.switchToHttp().getRequest<RequestWithRequester>().requester = requester;
  } else {
    const rpc = ctx.switchToRpc().getContext<object | undefined>();
    if (rpc) rpcRequesters.set(rpc, requester);
  }
}

export function requesterOf(ctx: ExecutionContext): VerifiedRequester | undefined {
  if (ctx.getType() === 'http') return ctx.switchToHttp().getRequest<RequestWithRequester>().requester;
  const rpc = ctx.switchToRpc().getContext<object | undefined>();
  return rpc ? rpcRequesters.get(rpc) : undefined;
}
