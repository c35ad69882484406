/**
 * Rolling update: an old process has no handler for a topic the new release added. It must leave such a
 * message alone (pending, no attempt counted, no dead letter) for a process that has the handler.
 */
import { Logger } from '@nestjs/common';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import type { OutboxRelay } from './outbox-relay.service';
import { openOutboxDataSource, recordingHandler, relayOn } from './testing/outbox-test-kit';

jest.setTimeout(30_000);

describe('a message whose topic this process has no handler for', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let newRelease: DataSource;
  const relays: OutboxRelay[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox_unknown_topic');
    dataSource = await openOutboxDataSource(db.url);
    await dataSource.runMigrations();
    newRelease = await openOutboxDataSource(db.url);
  });

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await newRelease?.destroy();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('stays pending while only an old process runs, and is delivered by a process that has the handler', async () => {
    const known = recordingHandler('known');
    const old = relayOn(dataSource, [known.handler]);
    relays.push(old.relay);
    await dataSource.transaction(async (m) => {
      await old.outbox.enqueue(m, { topic: 'added-by-new-release', messageKey: 'n1', payload: { v: 1 } });
      await old.outbox.enqueue(m, { topic: 'known', messageKey: 'k1', payload: {} });
    });
    await eventually(() => expect(known.calls.map((c) => c.messageKey)).toEqual(['k1']));
    // Many more rounds of the old relay: a later message enqueued and delivered after the unknown one.
    for (let i = 2; i <= 5; i++) {
      await dataSource.transaction((m) => old.outbox.enqueue(m, { topic: 'known', messageKey: `k${i}`, payload: {} }));
      await eventually(() => expect(known.calls).toHaveLength(i));
    }

    const [unknown] = await dataSource.query(`SELECT status, attempts, last_error, lease_token FROM outbox WHERE message_key = 'n1'`);
    expect(unknown).toEqual({ status: 'pending', attempts: 0, last_error: null, lease_token: null });
    expect(await dataSource.query(`SELECT * FROM outbox_dead_letter`)).toEqual([]);

    // The new release starts beside the old one.
    const added = recordingHandler('added-by-new-release');
    relays.push(relayOn(newRelease, [added.handler, recordingHandler('known').handler]).relay);
    await eventually(async () => {
      const [row] = await dataSource.query(`SELECT status, attempts FROM outbox WHERE message_key = 'n1'`);
      expect(row).toEqual({ status: 'delivered', attempts: 1 });
    });
    expect(added.calls.map((c) => [c.messageKey, c.payload])).toEqual([['n1', { v: 1 }]]);
    expect(await dataSource.query(`SELECT * FROM outbox_dead_letter`)).toEqual([]);
  });
});
