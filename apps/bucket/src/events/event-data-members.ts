import type { CanActivate, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';

/**
 * Member names Nest's validation pipe deletes, at every depth and in place, from the body it is given (against
 * prototype pollution), and that class-transformer cannot copy. event_data is the record: Bucket stores it as sent,
 * these members included. A step's output is whatever a provider answered (`{"constructor": …}` is valid JSON), and
 * an audit store that dropped a member, or refused the entry so that the producer's outbox dead-lettered it, would
 * lose what it was given. JSON.parse makes them own data properties, which canonical JSON, JSON.stringify, jsonb and
 * structuredClone all keep; nothing here assigns them to an object, so no prototype changes.
 */
const STRIPPED_MEMBERS = new Set(['__proto__', 'constructor', 'prototype']);

/** event_data objects the validation pipe will strip, each with its copy taken before it did. */
const asSent = new WeakMap<object, unknown>();

/** Whether `value` holds, at any depth, a member the validation pipe strips. Iterative (a body may nest deeply). */
export function holdsStrippedMembers(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const at = stack.pop();
    if (at === null || typeof at !== 'object') continue;
    if (Array.isArray(at)) {
      stack.push(...at);
      continue;
    }
    for (const key of Object.keys(at)) {
      if (STRIPPED_MEMBERS.has(key)) return true;
      stack.push((at as Record<string, unknown>)[key]);
    }
  }
  return false;
}

/** A deep copy of `value` without the members the validation pipe strips: what class-transformer may walk. */
export function withoutStrippedMembers<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => withoutStrippedMembers(item)) as T;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (!STRIPPED_MEMBERS.has(key)) copy[key] = withoutStrippedMembers(item);
  return copy as T;
}

/** The event_data as the producer sent it: the copy taken before the validation pipe stripped it, if it was. */
export function eventDataAsSent<T>(eventData: T): T {
  return (eventData !== null && typeof eventData === 'object' ? (asSent.get(eventData) as T | undefined) : undefined) ?? eventData;
}

/**
 * Runs before the validation pipe (guards do): copies a single write's event_data when the pipe would strip members
 * of it, so the route stores it whole (eventDataAsSent). Over HTTP and JetStream alike.
 */
export class EventDataAsSentGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const body: unknown =
      context.getType() === 'http' ? context.switchToHttp().getRequest<Request>().body : context.getType() === 'rpc' ? context.switchToRpc().getData() : undefined;
    const eventData = body !== null && typeof body === 'object' ? (body as { event_data?: unknown }).event_data : undefined;
    if (eventData !== null && typeof eventData === 'object' && holdsStrippedMembers(eventData)) asSent.set(eventData, structuredClone(eventData));
    return true;
  }
}
