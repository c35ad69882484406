import type { ClassConstructor, ClassTransformOptions } from 'class-transformer';
import { plainToInstance } from 'class-transformer';

/**
 * Member names Nest's ValidationPipe deletes, in place and at every depth, from a body it validates (against
 * prototype pollution), and that class-transformer cannot copy: it assigns them, so `__proto__` replaces the copy's
 * prototype (a member holding an object even throws a TypeError, a 500) and `constructor` is skipped.
 *
 * Free-form JSON (run inputs, a signal's payload, an adapter's payload, event data) is stored as sent, these members
 * included: `{"constructor": 1}` is valid JSON, and a step's output is whatever a provider answered. So nothing here
 * deletes them, and nothing assigns them to an object: class-transformer only walks a copy without them
 * (withoutStrippedMembers), and the members a DTO declares free-form (keepAsSent, AsSent) are put back on the
 * validated instance as the very values JSON.parse made, whose members are own data properties (kept by
 * JSON.stringify, canonical JSON, jsonb and structuredClone).
 */
export const STRIPPED_MEMBERS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** A DTO class (any constructor). */
export type DtoClass = abstract new (...args: never[]) => unknown;

/** Per DTO class: the dotted paths of its members kept as sent. */
const declared = new Map<DtoClass, string[][]>();

/**
 * Declares members of `cls`, by dotted path (`inputs`, `data.payload`), free-form JSON: after validation they hold
 * the value as sent, members named __proto__, constructor or prototype included, wherever `cls` is validated (the
 * global validation pipe over HTTP and JetStream, validateBatchItem, answerEachItem, plainToInstanceAsSent). A
 * subclass inherits the declaration. For DTOs declared in a library the service cannot decorate (contracts).
 */
export function keepAsSent(cls: DtoClass, ...paths: string[]): void {
  const list = declared.get(cls) ?? [];
  for (const path of paths) {
    const segments = path.split('.');
    if (segments.some((s) => s === '' || STRIPPED_MEMBERS.has(s))) throw new Error(`keepAsSent: ${path} is not a member path`);
    if (!list.some((known) => known.join('.') === path)) list.push(segments);
  }
  declared.set(cls, list);
}

/** keepAsSent as a property decorator, on a DTO field of the service's own. */
export const AsSent = (): PropertyDecorator => (target, key) => keepAsSent(target.constructor as DtoClass, String(key));

/** The declared as-sent paths of `cls` and of the classes it extends. */
export function asSentPathsOf(cls: DtoClass): string[][] {
  const paths: string[][] = [];
  for (let c: unknown = cls; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    paths.push(...(declared.get(c as DtoClass) ?? []));
  }
  return paths;
}

/** An array or an object JSON.parse (or a query parser) makes; anything else (a Buffer, a Date) is a leaf. */
function isJsonContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** STRIPPED_MEMBERS.has(key), without hashing every key of every body: most keys fail the length test. */
function isStrippedName(key: string): boolean {
  const n = key.length;
  return (n === 9 && (key === '__proto__' || key === 'prototype')) || (n === 11 && key === 'constructor');
}

/**
 * Whether `value` holds, at any depth, a member named __proto__, constructor or prototype. Iterative (a body may
 * nest deeply); one pass over the keys, in place of the pipe's own walk (AsSentValidationPipe).
 */
export function holdsStrippedMembers(value: unknown): boolean {
  if (!isJsonContainer(value)) return false;
  const stack: object[] = [value];
  while (stack.length) {
    const at = stack.pop() as Record<string, unknown>;
    if (Array.isArray(at)) {
      for (let i = 0; i < at.length; i++) {
        const item: unknown = at[i];
        if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item)) stack.push(item);
      }
      continue;
    }
    const keys = Object.keys(at);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (isStrippedName(key)) return true;
      const item = at[key];
      if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item)) stack.push(item);
    }
  }
  return false;
}

/**
 * A deep copy of `value` without the members named __proto__, constructor or prototype: what class-transformer may
 * walk. Iterative; copies only arrays and plain objects (anything else is shared). Never assigns a stripped name.
 */
export function withoutStrippedMembers<T>(value: T): T {
  if (!isJsonContainer(value)) return value;
  const copyOf = (from: Record<string, unknown> | unknown[]): Record<string, unknown> | unknown[] => (Array.isArray(from) ? new Array(from.length) : {});
  const root = copyOf(value);
  const stack: Array<{ from: Record<string, unknown> | unknown[]; to: Record<string, unknown> | unknown[] }> = [{ from: value, to: root }];
  while (stack.length) {
    const { from, to } = stack.pop() as { from: Record<string, unknown>; to: Record<string, unknown> };
    for (const key of Object.keys(from)) {
      if (!Array.isArray(from) && isStrippedName(key)) continue;
      const item = from[key];
      if (isJsonContainer(item)) {
        const copy = copyOf(item);
        to[key] = copy;
        stack.push({ from: item, to: copy });
      } else {
        to[key] = item;
      }
    }
  }
  return root as T;
}

/**
 * Puts the members of `instance` declared as sent (`paths`) back to their values in `plain`, the body as sent. A
 * path whose parent is missing on either side, or that `plain` does not hold, is left as validated.
 */
export function restoreAsSent(instance: unknown, plain: unknown, paths: readonly string[][]): void {
  for (const path of paths) {
    let from = plain;
    let to = instance;
    for (let i = 0; i < path.length - 1; i++) {
      from = isJsonContainer(from) && Object.prototype.hasOwnProperty.call(from, path[i]) ? (from as Record<string, unknown>)[path[i]] : undefined;
      to = to !== null && typeof to === 'object' ? (to as Record<string, unknown>)[path[i]] : undefined;
    }
    const last = path[path.length - 1];
    if (to === null || typeof to !== 'object' || !isJsonContainer(from) || !Object.prototype.hasOwnProperty.call(from, last)) continue;
    // `last` is a declared member name (never a stripped one: keepAsSent refuses them).
    (to as Record<string, unknown>)[last] = (from as Record<string, unknown>)[last];
  }
}

/**
 * class-transformer's plainToInstance, safe for a body holding members named __proto__, constructor or prototype:
 * it walks a copy without them, and the members `cls` declares as sent (keepAsSent) get their values as sent. For a
 * service that builds a DTO itself (a nested part validated per type). Cheap when the body holds none (one walk).
 */
export function plainToInstanceAsSent<T extends object>(cls: ClassConstructor<T>, plain: unknown, options?: ClassTransformOptions): T {
  if (!holdsStrippedMembers(plain)) return plainToInstance(cls, plain, options) as T;
  const instance = plainToInstance(cls, withoutStrippedMembers(plain), options) as T;
  restoreAsSent(instance, plain, asSentPathsOf(cls));
  return instance;
}
