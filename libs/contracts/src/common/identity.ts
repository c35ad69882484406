/**
 * Service identity shared by every pillar (SPEC §3): who may call (requester ids, the verified JWT `sub`)
 * and whom a call is for (service names, the JWT `aud`).
 */

/** The requester id each caller presents as `iss`/`sub` of its service token. */
export enum RequesterId {
  Core = 'bhiv_core',
  WorkflowExecutor = 'workflow_executor',
  Bucket = 'bucket',
  Karma = 'karma',
  Prana = 'prana',
  /** A person operating Pancha from a terminal (the `pancha` CLI) with a key from the keys directory. */
  Operator = 'operator',
}

export const REQUESTER_IDS: readonly RequesterId[] = Object.values(RequesterId);

/** Requests without a credential; only the policy decides what it may do. */
export const ANONYMOUS = 'anonymous';
export type Anonymous = typeof ANONYMOUS;

/** Service names: the token audience, the Nx project, OTEL_SERVICE_NAME and the compose service are the same word. */
export type ServiceName = 'core' | 'bucket' | 'karma' | 'workflow-executor';

export const SERVICE_NAMES: readonly ServiceName[] = ['core', 'bucket', 'karma', 'workflow-executor'];

export function isRequesterId(value: unknown): value is RequesterId {
  return typeof value === 'string' && (REQUESTER_IDS as readonly string[]).includes(value);
}

export function isServiceName(value: unknown): value is ServiceName {
  return typeof value === 'string' && (SERVICE_NAMES as readonly string[]).includes(value);
}

/** Anything that can hand a client a bearer token for a target service (governance's TokenIssuer implements it). */
export interface TokenSource {
  /** `products` narrows what the receiver lets the token see (a caller acting for a product-scoped requester). */
  tokenFor(audience: ServiceName, claims?: { products?: string[] }): Promise<string>;
}
