import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { REQUESTER_IDS, RequesterId, type RunView } from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, TokenIssuer } from '@pancha/governance';
import { configureApp, validateEnv } from '@pancha/service-kit';
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../../app.module';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { RecordingServer } from '../../testing/recording-server';
import { EngineClock, ManualClock } from '../engine/engine-clock';
import { RunWorker } from '../engine/run-worker.service';

/** An executor app on a fresh database, with a workflows directory, fake Bucket/Karma and (optionally) a manual clock. */
export interface ExecutorHarness {
  app: INestApplication;
  db: TestDatabase;
  dataSource: DataSource;
  workflowsDir: string;
  clock?: ManualClock;
  worker: RunWorker;
  bucket: RecordingServer;
  karma: RecordingServer;
  /** A fresh Core token per call (tokens are short-lived; never cache one for a whole file). */
  token(requester?: RequesterId): Promise<string>;
  startRun(workflow: string, version: string, inputs: Record<string, unknown>, extra?: Partial<{ user_id: string; product: string }>): Promise<string>;
  run(runId: string): Promise<RunView>;
  writeWorkflow(file: string, yaml: string): void;
  close(): Promise<void>;
}

export async function startExecutorHarness(options: {
  workflows: Record<string, string>;
  env?: Record<string, string>;
  manualClock?: boolean;
  /** Share a database and keys with another harness (two replicas). */
  shared?: { db: TestDatabase; keysDir: string; workflowsDir: string; bucket: RecordingServer; karma: RecordingServer };
}): Promise<ExecutorHarness> {
  const db = options.shared?.db ?? (await createTestDatabase('wf'));
  const keysDir = options.shared?.keysDir ?? mkdtempSync(path.join(tmpdir(), 'wf-keys-'));
  if (!options.shared) ensureKeyPairs(keysDir, [...REQUESTER_IDS]);
  const workflowsDir = options.shared?.workflowsDir ?? mkdtempSync(path.join(tmpdir(), 'wf-dir-'));
  mkdirSync(workflowsDir, { recursive: true });
  for (const [file, yaml] of Object.entries(options.workflows)) writeFileSync(path.join(workflowsDir, file), yaml);
  const bucket = options.shared?.bucket ?? (await new RecordingServer(() => ({ status: 201, body: { success: true } })).start());
  const karma = options.shared?.karma ?? (await new RecordingServer(() => ({ status: 200, body: { status: 'success' } })).start());
  const env = {
    DATABASE_URL: db.url,
    PANCHA_KEYS_DIR: keysDir,
    APP_ENV: 'test',
    LOG_LEVEL: 'silent',
    BUCKET_URL: bucket.url,
    KARMA_URL: karma.url,
    NATS_URL: '',
    WORKFLOWS_DIR: workflowsDir,
    WORKFLOW_POLL_MS: '25',
    WORKFLOW_LEASE_MS: '3000',
    WORKFLOW_HTTP_ALLOWED_HOSTS: '127.0.0.1',
    OUTBOX_POLL_INTERVAL_MS: '50',
    OUTBOX_BASE_DELAY_MS: '50',
    OUTBOX_MAX_DELAY_MS: '300',
    ...options.env,
  };
  // The outbox and governance libraries still read a few variables from the process environment.
  Object.assign(process.env, { PANCHA_KEYS_DIR: keysDir, OUTBOX_POLL_INTERVAL_MS: '50', OUTBOX_BASE_DELAY_MS: '50', OUTBOX_MAX_DELAY_MS: '300' });
  const clock = options.manualClock ? new ManualClock(new Date('2026-03-01T00:00:00.000Z')) : undefined;
  let builder = Test.createTestingModule({ imports: [AppModule.forRoot(validateEnv(WorkflowExecutorConfig, { ...process.env, ...env }))] });
  if (clock) builder = builder.overrideProvider(EngineClock).useValue(clock);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  configureApp(app);
  await app.init();
  const dataSource = app.get(DataSource);
  const issuers = new Map<RequesterId, TokenIssuer>();
  const token = async (requester: RequesterId = RequesterId.Core): Promise<string> => {
    let issuer = issuers.get(requester);
    if (!issuer) {
      issuer = new TokenIssuer(loadKeyStore(requester, { PANCHA_KEYS_DIR: keysDir }));
      issuers.set(requester, issuer);
    }
    return issuer.tokenFor('workflow-executor');
  };
  const harness: ExecutorHarness = {
    app,
    db,
    dataSource,
    workflowsDir,
    clock,
    worker: app.get(RunWorker),
    bucket,
    karma,
    token,
    async startRun(workflow, version, inputs, extra = {}) {
      const runId = randomUUID();
      const res = await request(app.getHttpServer())
        .post('/api/runs')
        .set('authorization', `Bearer ${await token()}`)
        .send({ run_id: runId, workflow, version, inputs, user_id: extra.user_id ?? 'u1', product: extra.product, trace_id: randomBytes(16).toString('hex') });
      if (res.status !== 202) throw new Error(`start ${workflow}@${version}: ${res.status} ${JSON.stringify(res.body)}`);
      return runId;
    },
    async run(runId) {
      const res = await request(app.getHttpServer()).get(`/api/runs/${runId}`).set('authorization', `Bearer ${await token()}`);
      if (res.status !== 200) throw new Error(`GET run ${runId}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as RunView;
    },
    writeWorkflow(file, yaml) {
      writeFileSync(path.join(workflowsDir, file), yaml);
    },
    async close() {
      await app.close();
      if (!options.shared) {
        await Promise.all([bucket.close(), karma.close()]);
        await db.drop();
        rmSync(keysDir, { recursive: true, force: true });
        rmSync(workflowsDir, { recursive: true, force: true });
      }
    },
  };
  return harness;
}
