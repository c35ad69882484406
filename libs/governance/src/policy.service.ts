import { ANONYMOUS, isRequesterId, isServiceName, REQUESTER_IDS, SERVICE_NAMES } from '@pancha/contracts';
import type { Anonymous, RequesterId, ServiceName } from '@pancha/contracts';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ALL_PRODUCTS } from './governance.constants';
import type { GovernanceSource } from './governance.config';

export const OPERATIONS = ['read', 'write', 'execute', 'submit', 'start', 'operate', 'admin', 'publish'] as const;
export type Operation = (typeof OPERATIONS)[number];

export type PolicySubject = RequesterId | Anonymous;


export interface Policy {
  services: Partial<Record<ServiceName, Partial<Record<PolicySubject, Operation[]>>>>;
  /**
   * People (OIDC access tokens): what each role may do, per service, and which products people see. A role
   * not listed grants nothing; a service not listed accepts no person at all.
   */
  people: { roles: Partial<Record<ServiceName, Record<string, Operation[]>>>; products: string[] };
  products: Partial<Record<PolicySubject, string[]>>;
  /**
   * Who may write each channel of a service (service → channel → requesters): a timeline is only as
   * trustworthy as the rule that nobody else writes it. A service that lists channels refuses a write to a
   * channel by anyone not listed for it (and to a channel not listed at all).
   */
  channels: Partial<Record<ServiceName, Record<string, PolicySubject[]>>>;
  /**
   * Which event types each requester may publish to Core's router (requester → type patterns: `kpi.*`, an exact
   * type, or `*`). Deny by default: a requester not listed may publish nothing, whatever its `publish` grant.
   */
  events: Partial<Record<PolicySubject, string[]>>;
}

export class PolicyError extends Error {}

const EVENT_TYPE_PATTERN = /^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$/i;
const isOperation = (v: unknown): v is Operation => typeof v === 'string' && (OPERATIONS as readonly string[]).includes(v);
const isSubject = (v: unknown): v is PolicySubject => v === ANONYMOUS || isRequesterId(v);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a parsed policy document; every problem is listed, with its path, in one error. */
export function validatePolicy(doc: unknown, source = 'policy'): Policy {
  const problems: string[] = [];
  const policy: Policy = { services: {}, products: {}, channels: {}, events: {}, people: { roles: {}, products: [] } };
  const subjects = [ANONYMOUS, ...REQUESTER_IDS].join(', ');

  if (!isPlainObject(doc)) throw new PolicyError(`${source}: expected a mapping with "services" and "products"`);
  for (const key of Object.keys(doc)) {
    if (!['services', 'products', 'channels', 'events', 'people'].includes(key)) problems.push(`${key}: unknown section (expected services, products, channels, events, people)`);
  }

  const services = doc.services ?? {};
  if (!isPlainObject(services)) problems.push('services: expected a mapping of service → requester → operations');
  else {
    for (const [service, grants] of Object.entries(services)) {
      if (!isServiceName(service)) {
        problems.push(`services.${service}: unknown service (known: ${SERVICE_NAMES.join(', ')})`);
        continue;
      }
      if (grants === null) continue;
      if (!isPlainObject(grants)) {
        problems.push(`services.${service}: expected a mapping of requester → operations`);
        continue;
      }
      const byRequester: Partial<Record<PolicySubject, Operation[]>> = {};
      for (const [requester, ops] of Object.entries(grants)) {
        const at = `services.${service}.${requester}`;
        if (!isSubject(requester)) {
          problems.push(`${at}: unknown requester (known: ${subjects})`);
          continue;
        }
        if (!Array.isArray(ops)) {
          problems.push(`${at}: expected a list of operations`);
          continue;
        }
        const bad = ops.filter((op) => !isOperation(op));
        if (bad.length > 0) problems.push(`${at}: unknown operation ${bad.map(String).join(', ')} (known: ${OPERATIONS.join(', ')})`);
        byRequester[requester] = ops.filter(isOperation);
      }
      policy.services[service] = byRequester;
    }
  }

  const products = doc.products ?? {};
  if (!isPlainObject(products)) problems.push('products: expected a mapping of requester → product names');
  else {
    for (const [requester, names] of Object.entries(products)) {
      const at = `products.${requester}`;
      if (!isSubject(requester)) {
        problems.push(`${at}: unknown requester (known: ${subjects})`);
        continue;
      }
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n.trim() === '')) {
        problems.push(`${at}: expected a list of product names or "${ALL_PRODUCTS}"`);
        continue;
      }
      policy.products[requester] = names.map((n: string) => n.trim());
    }
  }

  const channels = doc.channels ?? {};
  if (!isPlainObject(channels)) problems.push('channels: expected a mapping of service → channel → requesters');
  else {
    for (const [service, byChannel] of Object.entries(channels)) {
      if (!isServiceName(service)) {
        problems.push(`channels.${service}: unknown service (known: ${SERVICE_NAMES.join(', ')})`);
        continue;
      }
      if (!isPlainObject(byChannel)) {
        problems.push(`channels.${service}: expected a mapping of channel → requesters`);
        continue;
      }
      const writers: Record<string, PolicySubject[]> = {};
      for (const [channel, requesters] of Object.entries(byChannel)) {
        const at = `channels.${service}.${channel}`;
        if (!Array.isArray(requesters)) {
          problems.push(`${at}: expected a list of requesters`);
          continue;
        }
        const bad = requesters.filter((r) => !isSubject(r));
        if (bad.length > 0) problems.push(`${at}: unknown requester ${bad.map(String).join(', ')} (known: ${subjects})`);
        writers[channel] = requesters.filter(isSubject);
      }
      policy.channels[service] = writers;
    }
  }

  const events = doc.events ?? {};
  if (!isPlainObject(events)) problems.push('events: expected a mapping of requester → event type patterns');
  else {
    for (const [requester, patterns] of Object.entries(events)) {
      const at = `events.${requester}`;
      if (!isSubject(requester)) {
        problems.push(`${at}: unknown requester (known: ${subjects})`);
        continue;
      }
      if (!Array.isArray(patterns) || patterns.some((p) => typeof p !== 'string' || !EVENT_TYPE_PATTERN.test(p))) {
        problems.push(`${at}: expected a list of event types, prefixes such as "kpi.*", or "*"`);
        continue;
      }
      policy.events[requester] = patterns as string[];
    }
  }

  const people = doc.people ?? {};
  if (!isPlainObject(people)) problems.push('people: expected a mapping with "roles" and "products"');
  else {
    for (const key of Object.keys(people)) {
      if (!['roles', 'products'].includes(key)) problems.push(`people.${key}: unknown key (expected roles, products)`);
    }
    const roles = people.roles ?? {};
    if (!isPlainObject(roles)) problems.push('people.roles: expected a mapping of service → role → operations');
    else {
      for (const [service, byRole] of Object.entries(roles)) {
        if (!isServiceName(service)) {
          problems.push(`people.roles.${service}: unknown service (known: ${SERVICE_NAMES.join(', ')})`);
          continue;
        }
        if (!isPlainObject(byRole)) {
          problems.push(`people.roles.${service}: expected a mapping of role → operations`);
          continue;
        }
        const grants: Record<string, Operation[]> = {};
        for (const [role, ops] of Object.entries(byRole)) {
          const at = `people.roles.${service}.${role}`;
          if (!Array.isArray(ops)) {
            problems.push(`${at}: expected a list of operations`);
            continue;
          }
          const bad = ops.filter((op) => !isOperation(op));
          if (bad.length > 0) problems.push(`${at}: unknown operation ${bad.map(String).join(', ')} (known: ${OPERATIONS.join(', ')})`);
          grants[role] = ops.filter(isOperation);
        }
        policy.people.roles[service] = grants;
      }
    }
    const names = people.products ?? [];
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n.trim() === '')) {
      problems.push(`people.products: expected a list of product names or "${ALL_PRODUCTS}"`);
    } else policy.people.products = names.map((n: string) => n.trim());
  }

  if (problems.length > 0) throw new PolicyError(`${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  return policy;
}

/**
 * config/policy.yaml at the repository root, found by walking up from this file (works from src/ under
 * Jest and from dist/ at run time), else under the working directory; PANCHA_POLICY_FILE overrides it.
 */
export function resolvePolicyFile(env: GovernanceSource): string {
  if (env.PANCHA_POLICY_FILE?.trim()) return path.resolve(env.PANCHA_POLICY_FILE.trim());
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'config', 'policy.yaml');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  const fromCwd = path.resolve('config', 'policy.yaml');
  if (existsSync(fromCwd)) return fromCwd;
  throw new PolicyError(
    `No policy file: config/policy.yaml not found above ${__dirname} nor in ${process.cwd()}; set PANCHA_POLICY_FILE`,
  );
}

export function loadPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyError(`Cannot read policy file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new PolicyError(`Policy file ${file} is not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  return validatePolicy(doc, `Policy file ${file}`);
}

/**
 * Answers "may this requester do this on that service" and "which products may it see" from the policy
 * loaded at start. Deny by default: whatever the policy does not grant is refused.
 */
export class PolicyService {
  constructor(private readonly policy: Policy) {}

  /** From the app's validated settings (PANCHA_POLICY_FILE, else the default file). */
  static fromEnv(env: GovernanceSource): PolicyService {
    return new PolicyService(loadPolicy(resolvePolicyFile(env)));
  }

  allowedOperations(service: ServiceName, requester: PolicySubject): readonly Operation[] {
    return this.policy.services[service]?.[requester] ?? [];
  }

  isAllowed(service: ServiceName, requester: PolicySubject, operation: Operation): boolean {
    return this.allowedOperations(service, requester).includes(operation);
  }

  /** What a person holding `roles` may do on `service`: the union of the roles' grants (none for unknown roles). */
  peopleOperations(service: ServiceName, roles: readonly string[]): Operation[] {
    const byRole = this.policy.people.roles[service] ?? {};
    const granted = new Set<Operation>();
    for (const role of roles) if (Object.hasOwn(byRole, role)) for (const op of byRole[role]) granted.add(op);
    return OPERATIONS.filter((op) => granted.has(op));
  }

  /** Whether this service accepts people's tokens at all (a `people.roles` entry for it). */
  acceptsPeople(service: ServiceName): boolean {
    return this.policy.people.roles[service] !== undefined;
  }

  /** The products people see. */
  peopleProducts(): string[] {
    return [...this.policy.people.products];
  }

  /**
   * Whether `requester` may write `channel` of `service`. A service without a channels section keeps no
   * channel rule (true); one with it allows only the requesters listed for that channel (deny by default).
   */
  mayWriteChannel(service: ServiceName, requester: PolicySubject | `user:${string}`, channel: string): boolean {
    const byChannel = this.policy.channels[service];
    if (!byChannel) return true;
    return Object.hasOwn(byChannel, channel) && (byChannel[channel] as string[]).includes(requester);
  }

  /** The requesters the policy lets write `channel` of `service` (empty when it names none). */
  channelWriters(service: ServiceName, channel: string): readonly PolicySubject[] {
    const byChannel = this.policy.channels[service];
    return byChannel && Object.hasOwn(byChannel, channel) ? byChannel[channel] : [];
  }

  /** Whether `requester` may publish events of `type` (the policy's `events` section; deny by default). */
  mayPublish(requester: PolicySubject | `user:${string}`, type: string): boolean {
    // People publish nothing: the events section names services (and anonymous) only.
    if (requester.startsWith('user:')) return false;
    return (this.policy.events[requester as PolicySubject] ?? []).some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
  }

  /**
   * The products a request may see: the policy's list for the requester, narrowed by the token's optional
   * `products` claim. A claim can only narrow, never widen; "*" means every product.
   */
  effectiveProducts(requester: PolicySubject, tokenProducts?: readonly string[]): string[] {
    const granted = this.policy.products[requester] ?? [];
    if (tokenProducts === undefined) return [...granted];
    if (granted.includes(ALL_PRODUCTS)) return [...new Set(tokenProducts)];
    return granted.filter((p) => tokenProducts.includes(p) || tokenProducts.includes(ALL_PRODUCTS));
  }
}
