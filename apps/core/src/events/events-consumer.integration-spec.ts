/**
 * Core with NATS_URL set: the router consumes the executor's `workflow.completed` / `workflow.failed` from JetStream
 * (JetStreamPublisher, the body CoreWorkflowEventHandler sends) with the guarantees of POST /events: a workflow
 * triggered by another's end starts once even when the message is published twice; a bad event is dead-lettered.
 * Skipped, saying so, when NATS_URL is unset.
 */
import type { INestApplication } from '@nestjs/common';
import { EventTopic, RequesterId } from '@pancha/contracts';
import { connectJetStream, createTestStream, DLQ_HEADERS, JetStreamPublisher, testNatsUrl, type TestStream } from '@pancha/nats-transport';
import { validateEnv } from '@pancha/service-kit';
import { bootService, createTestDatabase, createTestKeys, eventually, StandInServer, type TestDatabase, type TestKeys } from '@pancha/testing';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { CoreConfig } from '../config/env.validation';
import { catalogExecutor } from '../testing/catalog-executor';

jest.setTimeout(90_000);

const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[core] NATS_URL is unset: skipping the JetStream event router tests');
const describeNats = NATS_URL ? describe : describe.skip;

const FOLLOW_UP = parseManifest(`
name: follow-up
version: 1.0.0
security: { actions: [task] }
triggers:
  - event: workflow.completed
    if: event.data.workflow == "onboard"
    inputs: { after: "{{ event.data.run_id }}" }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest as WorkflowManifest;

const executor = catalogExecutor([FOLLOW_UP]);
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describeNats('Core consuming the pillars’ events from JetStream', () => {
  let db: TestDatabase;
  let stream: TestStream;
  let keys: TestKeys;
  let app: INestApplication;
  let dataSource: DataSource;
  let asExecutor: JetStreamPublisher;

  beforeAll(async () => {
    await Promise.all([executor.start(), bucket.start()]);
    db = await createTestDatabase('core_events_nats');
    stream = await createTestStream(NATS_URL as string, 'COREEV');
    keys = createTestKeys('core-events-nats');
    const env = {
      DATABASE_URL: db.url,
      PANCHA_KEYS_DIR: keys.dir,
      APP_ENV: 'test',
      LOG_LEVEL: 'silent',
      WORKFLOW_EXECUTOR_URL: executor.url,
      BUCKET_URL: bucket.url,
      WORKFLOW_CATALOG_REFRESH_MS: '200',
      AUDIT_WITNESS_INTERVAL_MS: '0',
      ...stream.env,
    };
    ({ app } = await bootService(AppModule.forRoot(validateEnv(CoreConfig, env)), {
      microservices: (nest) => expect(connectJetStream(nest)).toBe(true),
    }));
    dataSource = app.get(DataSource);
    asExecutor = new JetStreamPublisher(stream.settings, keys.tokensFor(RequesterId.WorkflowExecutor));
  });

  afterAll(async () => {
    await app?.close();
    await asExecutor?.close();
    await stream?.delete();
    await db?.drop();
    await Promise.all([executor.close(), bucket.close()]);
    keys?.remove();
  });

  const completed = (runId: string, workflow = 'onboard') => ({
    id: `${runId}:workflow.completed:1`,
    type: 'workflow.completed',
    source: 'workflow-executor',
    subject: runId,
    data: { run_id: runId, workflow, version: '1.2.0', user_id: 'u1', trace_id: 'c'.repeat(32) },
  });

  it('a workflow.completed starts the workflow it triggers, once, even when published twice', async () => {
    const body = completed('11111111-1111-4111-8111-111111111111');
    await asExecutor.publish({ topic: EventTopic.CoreWorkflowEvent, audience: 'core', messageKey: 'run-1-end', payload: body });
    await asExecutor.publish({ topic: EventTopic.CoreWorkflowEvent, audience: 'core', messageKey: 'run-1-end-again', payload: body });
    // Core's own subjects only: it hands the run it starts to the executor on the same stream, which nobody reads here.
    await eventually(async () => expect(await stream.storedCount('core')).toBe(0), { timeoutMs: 60_000 });
    const [event] = await dataSource.query(`SELECT publisher, decisions FROM events WHERE event_id = $1`, [body.id]);
    expect(event).toMatchObject({ publisher: 'workflow_executor', decisions: [expect.objectContaining({ workflow: 'follow-up', outcome: 'run' })] });
    const runs = await dataSource.query(`SELECT inputs, source FROM workflow_run_requests WHERE workflow = 'follow-up'`);
    expect(runs).toEqual([{ inputs: { after: body.data.run_id }, source: `event:${body.id}` }]);
    expect(await stream.deadLetters('core')).toHaveLength(0);
  });

  it('dead-letters an event its schema refuses (422), storing nothing', async () => {
    const body = { ...completed('22222222-2222-4222-8222-222222222222'), data: { workflow: 'onboard' } };
    await asExecutor.publish({ topic: EventTopic.CoreWorkflowEvent, audience: 'core', messageKey: 'bad-end', payload: body });
    await eventually(async () => expect(await stream.deadLetters('core')).toHaveLength(1), { timeoutMs: 60_000 });
    expect(await dataSource.query(`SELECT 1 FROM events WHERE event_id = $1`, [body.id])).toEqual([]);
  });

  it("takes Karma's and Bucket's own events from their hops, each held to its publisher's types", async () => {
    const asKarma = new JetStreamPublisher(stream.settings, keys.tokensFor(RequesterId.Karma));
    const asBucket = new JetStreamPublisher(stream.settings, keys.tokensFor(RequesterId.Bucket));
    try {
      const dead = (await stream.deadLetters('core')).length;
      const role = { id: 'karma:role_changed:7', type: 'karma.role_changed', source: 'karma', subject: 'u7', data: { user_id: 'u7', role: 'volunteer', previous_role: 'learner' } };
      const finding = { id: 'bucket:verify_failed:3:hash_mismatch', type: 'audit.verify_failed', source: 'bucket', subject: 'seq:3', data: { seq: 3, reason: 'hash_mismatch' } };
      const forged = { id: 'karma-forges-audit', type: 'audit.verify_failed', source: 'karma', data: { seq: 1, reason: 'x' } };
      await asKarma.publish({ topic: EventTopic.CoreKarmaEvent, audience: 'core', messageKey: role.id, payload: role });
      await asBucket.publish({ topic: EventTopic.CoreBucketEvent, audience: 'core', messageKey: finding.id, payload: finding });
      await asKarma.publish({ topic: EventTopic.CoreKarmaEvent, audience: 'core', messageKey: forged.id, payload: forged });
      // Karma may publish karma.* only: its audit.* event is refused (403) and dead-lettered, never stored.
      await eventually(async () => expect(await stream.deadLetters('core')).toHaveLength(dead + 1), { timeoutMs: 60_000 });
      await eventually(async () => {
        const rows = await dataSource.query(`SELECT event_id, publisher FROM events WHERE event_id = ANY($1) ORDER BY event_id`, [[role.id, finding.id, forged.id]]);
        expect(rows).toEqual([
          { event_id: finding.id, publisher: 'bucket' },
          { event_id: role.id, publisher: 'karma' },
        ]);
      }, { timeoutMs: 60_000 });
    } finally {
      await asKarma.close();
      await asBucket.close();
    }
  });

  it('takes a relay batch of router events as one message: each event answered as POST /events/batch would, a refused one dead-lettered alone', async () => {
    const asKarma = new JetStreamPublisher(stream.settings, keys.tokensFor(RequesterId.Karma));
    try {
      const dead = (await stream.deadLetters('core')).length;
      const roles = [8, 9].map((n) => ({ id: `karma:role_changed:${n}`, type: 'karma.role_changed', source: 'karma', subject: `u${n}`, data: { user_id: `u${n}`, role: 'volunteer', previous_role: 'learner' } }));
      const forged = { id: 'karma-forges-audit-in-a-batch', type: 'audit.verify_failed', source: 'karma', data: { seq: 1, reason: 'x' } };
      const bodies = [roles[0], forged, roles[1]];
      const results = await asKarma.publishBatch({ topic: EventTopic.CoreKarmaEvent, audience: 'core', messageKeys: bodies.map((b) => b.id), items: bodies.map((body) => ({ body })) });
      expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
      await eventually(async () => expect(await stream.deadLetters('core')).toHaveLength(dead + 1), { timeoutMs: 60_000 });
      const letter = (await stream.deadLetters('core')).at(-1);
      expect(JSON.parse(letter?.string() ?? '{}')).toMatchObject({ id: forged.id });
      expect(letter?.headers?.get(DLQ_HEADERS.batchIndex)).toBe('1');
      await eventually(async () => {
        const rows = await dataSource.query(`SELECT event_id, publisher FROM events WHERE event_id = ANY($1) ORDER BY event_id`, [bodies.map((b) => b.id)]);
        expect(rows).toEqual(roles.map((r) => ({ event_id: r.id, publisher: 'karma' })));
      }, { timeoutMs: 60_000 });
    } finally {
      await asKarma.close();
    }
  });
});
