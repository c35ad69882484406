import { randomUUID } from 'node:crypto';
import { HttpStatus } from '@nestjs/common';
import { CommonErrorCode, EVENT_LIMITS, EventErrorCode, type FieldError, parseTimestamp, TIMESTAMP_RULE } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';
import type { AcceptedEvent } from './event-router.service';

// The codes live in @pancha/contracts (clients read them); re-exported for the router's own files.
export { EventErrorCode } from '@pancha/contracts';

const TYPE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i;
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
const ATTRIBUTES = new Set(['id', 'type', 'source', 'subject', 'time', 'data', 'traceparent', 'specversion', 'datacontenttype']);

/**
 * The shape of one event (CloudEvents attribute names; `specversion` and `datacontenttype` are tolerated): every
 * problem named by its field (`[2].data` in a batch). Schema checks of `data` come after (EventSchemasService).
 */
export function readEvent(raw: unknown, at: string, errors: FieldError[], now: Date): AcceptedEvent | undefined {
  const problem = (field: string, message: string) => errors.push({ field: `${at}${field}`, messages: [message] });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problem(at === '' ? 'body' : '', 'an event must be an object { type, data, … }');
    return undefined;
  }
  const e = raw as Record<string, unknown>;
  for (const name of Object.keys(e)) if (!ATTRIBUTES.has(name)) problem(name, `unknown attribute (known: ${[...ATTRIBUTES].join(', ')})`);
  const text = (name: string, max: number, required = false): string | undefined => {
    const value = e[name];
    if (value === undefined || value === null) {
      if (required) problem(name, 'is required');
      return undefined;
    }
    if (typeof value !== 'string' || value.trim() === '') problem(name, 'must be a non-empty string');
    else if (value.length > max) problem(name, `must be at most ${max} characters`);
    else return value;
    return undefined;
  };
  const id = text('id', EVENT_LIMITS.id);
  // GET /events/stats is the statistics (routes match case-insensitively): an event of that id could never be read back.
  if (id?.toLowerCase() === 'stats') problem('id', 'is reserved ("stats" names GET /events/stats); choose another id');
  const type = text('type', EVENT_LIMITS.type, true);
  if (type !== undefined && !TYPE.test(type)) problem('type', 'must be dotted words such as kpi.threshold_breach');
  const source = text('source', EVENT_LIMITS.source);
  const subject = text('subject', EVENT_LIMITS.subject);
  const time = text('time', 64);
  let when: Date | undefined = now;
  if (time !== undefined) {
    when = parseTimestamp(time);
    if (!when) problem('time', `must be ${TIMESTAMP_RULE}`);
  }
  if (!('data' in e) || e.data === undefined) problem('data', 'is required');
  // The product the event's runs act on, its filter state's and its readers' scope (productOf): a non-empty string,
  // or none (absent or null). Anything else would silently make the event product-less, past a narrowed credential.
  const product = isRecord(e.data) ? e.data.product : undefined;
  if (product !== undefined && product !== null && (typeof product !== 'string' || product === '')) {
    problem('data.product', `must be a non-empty string (the product the event's runs act on), or absent or null for none; got ${describe(product)}`);
  }
  const traceparent = text('traceparent', 55);
  if (traceparent !== undefined && !TRACEPARENT.test(traceparent)) problem('traceparent', 'must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)');
  if (type === undefined) return undefined;
  return {
    id: id ?? randomUUID(),
    type,
    ...(source !== undefined ? { source } : {}),
    ...(subject !== undefined ? { subject } : {}),
    time: (when ?? now).toISOString(),
    data: e.data,
    ...(traceparent !== undefined ? { traceparent } : {}),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === '') return 'an empty string';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function invalidEvents(errors: FieldError[]): DomainException {
  return new DomainException(
    HttpStatus.UNPROCESSABLE_ENTITY,
    EventErrorCode.EventInvalid,
    `invalid event: ${[...new Set(errors.map((e) => e.field))].slice(0, 20).join(', ')}`,
    errors,
  );
}

export function batchTooLarge(size: number): DomainException {
  return new DomainException(HttpStatus.PAYLOAD_TOO_LARGE, CommonErrorCode.PayloadTooLarge, `a batch holds at most ${EVENT_LIMITS.batch} events; got ${size}`);
}
