import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { RequesterId, type RunView } from '@pancha/contracts';
import { validateEnv } from '@pancha/service-kit';
import {
  bootService,
  createTestDatabase,
  createTestKeys,
  httpJson,
  type JsonResponse,
  StandInServer,
  type TestDatabase,
  type TestKeys,
} from '@pancha/testing';
import { DataSource } from 'typeorm';
import { AppModule } from '../../app.module';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { EngineClock, EngineRandom, FixedRandom, ManualClock } from '../engine/engine-clock';
import { RunWorker } from '../engine/run-worker.service';

/** An executor app on a fresh database, with a workflows directory, fake Bucket/Karma and (optionally) a manual clock. */
export interface ExecutorHarness {
  app: INestApplication;
  /** http://127.0.0.1:<port> of the app. */
  url: string;
  keys: TestKeys;
  db: TestDatabase;
  dataSource: DataSource;
  workflowsDir: string;
  clock?: ManualClock;
  worker: RunWorker;
  bucket: StandInServer;
  karma: StandInServer;
  /** A fresh token per call (write tokens are single-use; never cache one for a whole file). */
  token(requester?: RequesterId): Promise<string>;
  /** One request to the app as Core (or `as`), with a fresh token. */
  call(method: string, route: string, body?: unknown, as?: RequesterId): Promise<JsonResponse>;
  startRun(workflow: string, version: string, inputs: Record<string, unknown>, extra?: Partial<{ user_id: string; product: string; warnings: string[] }>): Promise<string>;
  run(runId: string): Promise<RunView>;
  writeWorkflow(file: string, yaml: string): void;
  close(): Promise<void>;
}

export async function startExecutorHarness(options: {
  workflows: Record<string, string>;
  env?: Record<string, string>;
  manualClock?: boolean;
  /** Share a database and keys with another harness (two replicas). */
  shared?: { db: TestDatabase; keys: TestKeys; workflowsDir: string; bucket: StandInServer; karma: StandInServer };
}): Promise<ExecutorHarness> {
  const db = options.shared?.db ?? (await createTestDatabase('wf'));
  const keys = options.shared?.keys ?? createTestKeys('wf');
  const keysDir = keys.dir;
  const workflowsDir = options.shared?.workflowsDir ?? mkdtempSync(path.join(tmpdir(), 'wf-dir-'));
  mkdirSync(workflowsDir, { recursive: true });
  for (const [file, yaml] of Object.entries(options.workflows)) writeFileSync(path.join(workflowsDir, file), yaml);
  const bucket = options.shared?.bucket ?? (await new StandInServer(() => ({ status: 201, body: { success: true } })).start());
  const karma = options.shared?.karma ?? (await new StandInServer(() => ({ status: 200, body: { status: 'success' } })).start());
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
    // Tests reload on request unless they test the watcher; plugins only where a test brings its own.
    WORKFLOWS_WATCH: 'false',
    PLUGINS_DIR: path.join(workflowsDir, '.no-plugins'),
    PLUGINS_WATCH: 'false',
    OUTBOX_POLL_INTERVAL_MS: '50',
    OUTBOX_BASE_DELAY_MS: '50',
    OUTBOX_MAX_DELAY_MS: '300',
    ...options.env,
  };
  const clock = options.manualClock ? new ManualClock(new Date('2026-03-01T00:00:00.000Z')) : undefined;
  const service = await bootService(AppModule.forRoot(validateEnv(WorkflowExecutorConfig, env)), {
    // Time moved by hand: backoffs are fixed at half their ceiling, so no retry falls due before the test moves it.
    override: (builder) => (clock ? builder.overrideProvider(EngineClock).useValue(clock).overrideProvider(EngineRandom).useValue(new FixedRandom()) : builder),
  });
  const app = service.app;
  const dataSource = app.get(DataSource);
  const token = (requester: RequesterId = RequesterId.Core): Promise<string> => keys.mint(requester, 'workflow-executor');
  const call = async (method: string, route: string, body?: unknown, as: RequesterId = RequesterId.Core): Promise<JsonResponse> =>
    httpJson(method, `${service.url}${route}`, body, await token(as));
  const harness: ExecutorHarness = {
    app,
    url: service.url,
    keys,
    db,
    dataSource,
    workflowsDir,
    clock,
    worker: app.get(RunWorker),
    bucket,
    karma,
    token,
    call,
    async startRun(workflow, version, inputs, extra = {}) {
      const runId = randomUUID();
      const res = await call('POST', '/api/runs', {
        run_id: runId,
        workflow,
        version,
        inputs,
        user_id: extra.user_id ?? 'u1',
        product: extra.product,
        trace_id: randomBytes(16).toString('hex'),
        warnings: extra.warnings,
      });
      if (res.status !== 202) throw new Error(`start ${workflow}@${version}: ${res.status} ${JSON.stringify(res.body)}`);
      return runId;
    },
    async run(runId) {
      const res = await call('GET', `/api/runs/${runId}`);
      if (res.status !== 200) throw new Error(`GET run ${runId}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as RunView;
    },
    writeWorkflow(file, yaml) {
      writeFileSync(path.join(workflowsDir, file), yaml);
    },
    async close() {
      await service.close();
      if (!options.shared) {
        await Promise.all([bucket.close(), karma.close()]);
        await db.drop();
        keys.remove();
        rmSync(workflowsDir, { recursive: true, force: true });
      }
    },
  };
  return harness;
}
