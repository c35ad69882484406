/**
 * Karma with NATS_URL set: the real app (real PostgreSQL, real NATS on a throw-away stream) consumes the
 * life events the executor publishes (JetStreamPublisher, the same body as POST /v1/event/).
 * Skipped, saying so, when NATS_URL is unset.
 */
import { RequesterId } from '@pancha/contracts';
import { connectJetStream, createTestStream, DLQ_HEADERS, JetStreamPublisher, testNatsUrl, type TestStream } from '@pancha/nats-transport';
import { eventually, type ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(60_000);

const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[karma] NATS_URL is unset: skipping the JetStream consumer tests');
const describeNats = NATS_URL ? describe : describe.skip;

describeNats('karma consuming life events from JetStream', () => {
  let stream: TestStream;
  let karma: ServiceWithDatabase;
  let asExecutor: JetStreamPublisher;

  /** The body KarmaLifeEventHandler publishes (KarmaLifeEventPayload). */
  function lifeEvent(userId: string, action = 'workflow_success', eventId = randomUUID()) {
    return {
      type: 'life_event',
      source: 'workflow_executor',
      data: { event_id: eventId, user_id: userId, action, context: { trace_id: 'b'.repeat(32), action_type: 'task' } },
    };
  }

  const ledgerOf = async (userId: string) =>
    (await karma.dataSource.query('SELECT event_id, action, amount FROM karma_ledger WHERE user_id = $1 ORDER BY seq', [userId])) as {
      event_id: string;
      action: string;
      amount: number;
    }[];

  beforeAll(async () => {
    stream = await createTestStream(NATS_URL as string, 'KARMA');
    karma = await bootKarma({ database: 'karma_nats', env: stream.env, microservices: (nest) => expect(connectJetStream(nest)).toBe(true) });
    asExecutor = new JetStreamPublisher(stream.settings, karma.keys.tokensFor(RequesterId.WorkflowExecutor));
  });

  afterAll(async () => {
    await asExecutor?.close();
    await karma?.close();
    await stream?.delete();
  });

  it('records a workflow_success life event once, even when it is published twice', async () => {
    const body = lifeEvent('u-nats-1');
    await asExecutor.publish({ topic: 'karma.life-event', audience: 'karma', messageKey: 'exec-1', payload: body });
    await asExecutor.publish({ topic: 'karma.life-event', audience: 'karma', messageKey: 'exec-1-again', payload: body });
    await eventually(async () => expect(await stream.storedCount()).toBe(0));
    const ledger = await ledgerOf('u-nats-1');
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ event_id: body.data.event_id, action: 'workflow_success' });
    expect(await stream.deadLetters('karma')).toHaveLength(0);
  });

  it('dead-letters an unknown action (422) without touching the ledger', async () => {
    const body = lifeEvent('u-nats-2', 'teleporting');
    await asExecutor.publish({ topic: 'karma.life-event', audience: 'karma', messageKey: 'bad-action', payload: body });
    const dead = await eventually(async () => {
      const found = (await stream.deadLetters('karma')).find((m) => JSON.parse(m.string()).data?.event_id === body.data.event_id);
      if (!found) throw new Error('no dead letter yet');
      return found;
    });
    expect(dead.headers?.get(DLQ_HEADERS.reason)).toMatch(/^422 /);
    expect(await ledgerOf('u-nats-2')).toEqual([]);
  });
});
