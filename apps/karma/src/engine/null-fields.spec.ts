// A JSON null where a field is optional (a Python client's None) must be a 4xx or be taken as "not given":
// `data.role: null` and a top-level `timestamp: null` used to reach the engine and answer 500.
import { HttpException } from '@nestjs/common';
import { KarmaEventRequestDto } from '@pancha/contracts';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { loadKarmaConfig } from '../config/karma-config';
import { parseKarmaEvent } from './event-parser';
import { KarmaEngine } from './karma-engine';
import { MemoryKarmaStore } from './memory-karma.store';

const cfg = loadKarmaConfig();
const T0 = Date.parse('2025-03-01T12:00:00.000Z');

/** One valid event of each type, with every optional field present. */
const FULL: Record<string, Record<string, unknown>> = {
  life_event: {
    type: 'life_event',
    timestamp: new Date(T0).toISOString(),
    source: 'test',
    data: { event_id: '0b0f6c8e-3c2a-4d6e-9a51-1f1f1f1f1f1f', user_id: 'u', action: 'cheat', role: 'user', note: 'n', context: { a: 1 }, metadata: { m: 1 } },
  },
  atonement: {
    type: 'atonement',
    timestamp: new Date(T0).toISOString(),
    source: 'test',
    data: { user_id: 'u', plan_id: '2', atonement_type: 'Jap', amount: 108, proof_text: 'p', tx_hash: 'h' },
  },
  appeal: { type: 'appeal', timestamp: new Date(T0).toISOString(), source: 'test', data: { user_id: 'u', action: 'cheat', context: 'please' } },
  death_event: { type: 'death_event', timestamp: new Date(T0).toISOString(), source: 'test', data: { user_id: 'u' } },
  stats_request: { type: 'stats_request', timestamp: new Date(T0).toISOString(), source: 'test', data: { user_id: 'u' } },
};

/** Every body with exactly one field (of the envelope or of data) set to null. */
function withOneNull(): [string, Record<string, unknown>][] {
  return Object.entries(FULL).flatMap(([type, body]) => [
    ...Object.keys(body).map((k): [string, Record<string, unknown>] => [`${type} ${k}: null`, { ...body, [k]: null }]),
    ...Object.keys(body.data as object).map((k): [string, Record<string, unknown>] => [
      `${type} data.${k}: null`,
      { ...body, data: { ...(body.data as object), [k]: null } },
    ]),
  ]);
}

/** What POST /v1/event/ does with a body: the envelope's DTO (the global pipe), then the parser and the engine. */
async function submit(store: MemoryKarmaStore, raw: Record<string, unknown>): Promise<number> {
  const body = plainToInstance(KarmaEventRequestDto, raw);
  if (validateSync(body).length) return 422;
  try {
    await new KarmaEngine(cfg).ingest(store, parseKarmaEvent(cfg, body, T0), T0);
    return 200;
  } catch (error) {
    if (error instanceof HttpException) return error.getStatus();
    throw error;
  }
}

describe('optional fields sent as null', () => {
  it.each(withOneNull())('%s is a 4xx or accepted, never an unexpected error', async (_name, body) => {
    const store = new MemoryKarmaStore();
    // A cheat first, so the atonement's plan 2, the appeal and the death have a user to refer to.
    expect(await submit(store, { type: 'life_event', data: { user_id: 'u', action: 'cheat' } })).toBe(200);
    const status = await submit(store, body);
    expect(status === 200 || (status >= 400 && status < 500)).toBe(true);
  });

  it('takes a null timestamp and a null role as not given', async () => {
    const store = new MemoryKarmaStore();
    const life = FULL.life_event;
    expect(await submit(store, { ...life, timestamp: null, data: { ...(life.data as object), event_id: undefined, role: null } })).toBe(200);
    expect(store.ledger[0].occurredAt).toBe(T0);
    expect(store.ledger[0].details).not.toHaveProperty('role_claimed');
  });
});
