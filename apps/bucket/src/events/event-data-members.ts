import type { CanActivate, ExecutionContext } from '@nestjs/common';
import type { FieldError } from '@pancha/contracts';
import { validationException } from '@pancha/service-kit';
import type { Request } from 'express';

/**
 * Member names the framework strips without a word (Nest's validation pipe deletes them, at every depth, from the
 * body it is given) and class-transformer cannot walk. Storing them would mean reading event_data around the pipe and
 * handing every reader of the chain a prototype-pollution gadget; dropping them acknowledges an event that is not
 * stored as sent. Bucket refuses such an event instead (422 naming the member), before anything walks it.
 */
const REFUSED_MEMBERS = new Set(['__proto__', 'constructor', 'prototype']);
const REFUSED_MESSAGE = 'member name is refused (__proto__, constructor and prototype would not be stored as sent)';
const MAX_REPORTED = 20;

/**
 * The members of `eventData` (at any depth) named __proto__, constructor or prototype, by dotted path under `path`.
 * Iterative, like findUnstorableJson: a batch item's body reaches here before any depth check.
 */
export function findRefusedMembers(eventData: unknown, path = 'event_data'): FieldError[] {
  const errors: FieldError[] = [];
  const stack: Array<{ value: unknown; path: string }> = [{ value: eventData, path }];
  while (stack.length && errors.length < MAX_REPORTED) {
    const { value, path: at } = stack.pop() as { value: unknown; path: string };
    if (value === null || typeof value !== 'object') continue;
    const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((item, i) => [String(i), item]) : Object.entries(value);
    const children: Array<{ value: unknown; path: string }> = [];
    for (const [key, item] of entries) {
      const childPath = `${at}.${key}`;
      if (!Array.isArray(value) && REFUSED_MEMBERS.has(key)) errors.push({ field: childPath, messages: [REFUSED_MESSAGE] });
      else children.push({ value: item, path: childPath });
    }
    stack.push(...children.reverse());
  }
  return errors;
}

/** Throws the 422 naming every refused member of a write body's event_data (the record; other members are dropped). */
export function assertNoRefusedMembers(body: unknown): void {
  if (body === null || typeof body !== 'object') return;
  const errors = findRefusedMembers((body as { event_data?: unknown }).event_data);
  if (errors.length) throw validationException(errors);
}

/**
 * The check of a single write, over HTTP or JetStream: a guard, because guards run before the validation pipe,
 * which would otherwise have deleted the members already.
 */
export class EventDataMembersGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'http') assertNoRefusedMembers(context.switchToHttp().getRequest<Request>().body);
    else if (context.getType() === 'rpc') assertNoRefusedMembers(context.switchToRpc().getData());
    return true;
  }
}
